"""local_airflow/stop_signals.py: Ctrl-C or SIGTERM stops a local run promptly, even while a task is in native code."""

import subprocess
import sys
from pathlib import Path

import pytest
from local_airflow import stop_signals

SCRIPTS = Path(stop_signals.__file__).resolve().parent.parent

# Each case runs in a fresh process, as `make run` does: the signal mask only covers threads started after it is set,
# and a test session has threads of its own (the moto server's, for one).
CASE = """
import ctypes, os, signal, sys, threading, time
sys.path.insert(0, {scripts!r})
from local_airflow import stop_signals
stop_signals.GRACE_SECONDS = 0.5
stuck = []
try:
    with stop_signals.stopped_by_signals(stuck.append) as received:
        started = time.monotonic()
        threading.Timer(0.5, os.kill, args=(os.getpid(), signal.{signal})).start()
        {body}
except stop_signals.Interrupted:
    restored = signal.getsignal(signal.SIGINT) is signal.default_int_handler
    unmasked = not signal.pthread_sigmask(signal.SIG_BLOCK, [])
    print(received, stuck, round(time.monotonic() - started), restored, unmasked)
"""


def run_case(signal_name, body):
    script = CASE.format(scripts=str(SCRIPTS), signal=signal_name, body=body)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_a_signal_fails_python_code_in_the_main_thread_at_once(signal_name):
    python_loop = "while time.monotonic() - started < 30: time.sleep(0.05)"
    # received, stuck, seconds, the previous handler and signal mask are back
    assert run_case(signal_name, python_loop) == f"['{signal_name}'] [] 1 True True"


def test_a_main_thread_stuck_in_native_code_is_given_up_on_after_the_grace_period():
    native = "ctypes.CDLL(None).sleep(3); time.sleep(1)"  # no Python signal handler runs until sleep(3) returns
    # given up on after 0.5 s (stuck names the signal); the interruption lands as soon as native code returns
    assert run_case("SIGTERM", native) == "['SIGTERM'] ['SIGTERM'] 3 True True"


def test_signals_end_a_run_with_the_shells_exit_codes():
    assert (stop_signals.exit_code("SIGINT"), stop_signals.exit_code("SIGTERM")) == (130, 143)
