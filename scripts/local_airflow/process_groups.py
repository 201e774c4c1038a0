"""Stop the servers a script started, in a bounded time, even when that script dies first.

Each server runs in its own session, so its pid is its process group id and Ctrl-C reaches only the script. Stopping
sends SIGTERM, waits a bounded time for the server's whole process group, then SIGKILLs what is left; a watchdog
process (this file run as a script) does the same if the script dies, even by SIGKILL, without stopping them.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress

import tenacity


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop_groups(pgids: list[int], grace: float, reap: Callable[[], object] = lambda: None) -> None:
    """SIGTERM each group's leader (it stops its own children), wait up to `grace` s for every member, SIGKILL
    the rest. `reap` collects exited leaders that are our children, or their zombies would keep a group alive."""
    for pgid in pgids:
        with suppress(ProcessLookupError):
            os.kill(pgid, signal.SIGTERM)

    def alive() -> list[int]:
        reap()
        return [pgid for pgid in pgids if group_alive(pgid)]

    polling = tenacity.Retrying(
        stop=tenacity.stop_after_delay(grace),
        wait=tenacity.wait_fixed(0.1),
        retry=tenacity.retry_if_result(bool),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else [],
    )
    for pgid in polling(alive):
        with suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


def stop(processes: Mapping[str, subprocess.Popen], grace: float) -> None:
    """Stop the servers this process started (each one's pid is its process group id) and reap them."""
    stop_groups([proc.pid for proc in processes.values()], grace, lambda: [proc.poll() for proc in processes.values()])
    for proc in processes.values():
        proc.wait()


@contextmanager
def watchdog(grace: float) -> Iterator[Callable[[int], None]]:
    """Start the watchdog; yield the function that hands it a process group to stop should this process die.
    Leaving the block dismisses it: the caller stops its servers itself."""
    guard = subprocess.Popen(
        [sys.executable, __file__, "--grace", str(grace)], stdin=subprocess.PIPE, text=True, start_new_session=True
    )
    orders = guard.stdin
    assert orders is not None  # stdin=PIPE

    def watch(pgid: int) -> None:
        orders.write(f"{pgid}\n")
        orders.flush()

    try:
        yield watch
    finally:
        guard.communicate("done\n")  # writes, closes stdin and waits


def run_watchdog(grace: float) -> None:
    """The watchdog process: read process group ids from stdin; if stdin closes without "done", stop those groups."""
    pgids = []
    for line in sys.stdin:
        if line.strip() == "done":
            return
        pgids.append(int(line))
    stop_groups(pgids, grace)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="watchdog: " + __doc__.splitlines()[0])
    parser.add_argument("--grace", type=float, required=True, help="seconds to stop cleanly before killing")
    run_watchdog(parser.parse_args().grace)
