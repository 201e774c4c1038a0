"""scripts/local_run.py: a local run stops promptly on Ctrl-C or SIGTERM, even while a task is busy in native code."""

import os
import subprocess
import sys

import local_run
import pytest

# Each case runs in a fresh process, as `make run` does: the signal mask only covers threads started after it is set,
# and a test session has threads of its own (the moto server's, for one).
CASE = """
import ctypes, os, signal, sys, threading, time
sys.path.insert(0, {scripts!r})
import local_run
local_run.GRACE_SECONDS = 0.5
stuck = []
try:
    with local_run.stopped_by_signals(stuck.append) as received:
        started = time.monotonic()
        threading.Timer(0.5, os.kill, args=(os.getpid(), signal.{signal})).start()
        {body}
except local_run.Interrupted:
    restored = signal.getsignal(signal.SIGINT) is signal.default_int_handler
    unmasked = not signal.pthread_sigmask(signal.SIG_BLOCK, [])
    print(received, stuck, round(time.monotonic() - started), restored, unmasked)
"""


def run_case(signal_name, body):
    script = CASE.format(scripts=str(local_run.REPO / "scripts"), signal=signal_name, body=body)
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
    assert (local_run.exit_code("SIGINT"), local_run.exit_code("SIGTERM")) == (130, 143)


def test_a_direct_run_defaults_to_the_repositorys_airflow_home(monkeypatch):
    for name in ("AIRFLOW_HOME", "AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__PLUGINS_FOLDER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "True")
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    local_run.use_repository_airflow()
    assert os.environ["AIRFLOW_HOME"] == str(local_run.REPO / ".local" / "airflow")
    assert os.environ["AIRFLOW__CORE__DAGS_FOLDER"] == str(local_run.REPO / "dags")
    assert os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] == "True", "the environment wins"
