"""Ctrl-C and SIGTERM end a local DAG run within seconds, even while a task is busy in native code.

Airflow's task runner replaces the SIGTERM handler for each task (it only calls on_kill), and a main thread busy in
native code (a long scikit-learn fit) runs no Python handler until it returns: so both signals are blocked and
picked up by a thread of their own, which interrupts the main thread and gives up on it after a grace period.
"""

from __future__ import annotations

import _thread
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

POLL_SECONDS = 0.3
GRACE_SECONDS = 5.0
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


class Interrupted(BaseException):
    """Set by Ctrl-C or SIGTERM; subclassed from Airflow's termination error so the running task fails at once."""


def _termination_error() -> type[BaseException]:
    from airflow.sdk.exceptions import AirflowTaskTerminated

    return type("RunInterrupted", (AirflowTaskTerminated, Interrupted), {})


def exit_code(signal_name: str) -> int:
    """What a shell reports for a process ended by that signal: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + signal.Signals[signal_name].value


@contextmanager
def stopped_by_signals(on_stuck: Callable[[str], None]) -> Iterator[list[str]]:
    """Turn Ctrl-C and SIGTERM into an exception in the main thread; yields a list that names the signal received.

    The watching thread interrupts the main thread like Ctrl-C does and, if that has not ended the run within
    `GRACE_SECONDS`, calls `on_stuck` with the signal's name.
    """
    received: list[str] = []
    finished = threading.Event()
    error = _termination_error()

    def on_interrupt(signum: int, frame: Any) -> None:
        raise error(f"stopped by {received[0] if received else 'SIGINT'}")

    def watch() -> None:
        while not finished.is_set():
            caught = signal.sigtimedwait(STOP_SIGNALS, POLL_SECONDS)
            if caught is None:
                continue
            received.append(signal.Signals(caught.si_signo).name)
            _thread.interrupt_main(signal.SIGINT)
            if not finished.wait(GRACE_SECONDS):
                on_stuck(received[0])
            return

    previous = signal.signal(signal.SIGINT, on_interrupt)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # before other threads start: they inherit it
    watcher = threading.Thread(target=watch, name="stop-signals", daemon=True)
    watcher.start()
    try:
        yield received
    finally:
        finished.set()
        watcher.join()
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        signal.signal(signal.SIGINT, previous)
