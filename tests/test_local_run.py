"""scripts/local_run.py: a local run stops promptly on Ctrl-C or SIGTERM, even while a task is busy in native code."""

import ctypes
import os
import signal
import threading
import time

import local_run
import pytest


def send_soon(signum, delay=0.5):
    threading.Timer(delay, os.kill, args=(os.getpid(), signum)).start()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_fails_python_code_in_the_main_thread_at_once(signum):
    stuck = []
    started = time.monotonic()
    with pytest.raises(local_run.Interrupted), local_run.stopped_by_signals(stuck.append) as received:
        send_soon(signum)
        while time.monotonic() - started < 30:
            time.sleep(0.05)
    assert time.monotonic() - started < 3
    assert received == [signal.Signals(signum).name] and stuck == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, "the previous handler is back"
    assert signum not in signal.pthread_sigmask(signal.SIG_BLOCK, set()), "the signal mask is back"


def test_a_main_thread_stuck_in_native_code_is_given_up_on_after_the_grace_period(monkeypatch):
    monkeypatch.setattr(local_run, "GRACE_SECONDS", 0.5)
    stuck = []
    with pytest.raises(local_run.Interrupted), local_run.stopped_by_signals(stuck.append):
        send_soon(signal.SIGTERM)
        ctypes.CDLL(None).sleep(3)  # native code: no Python signal handler runs until it returns
        time.sleep(1)
    assert stuck == ["SIGTERM"]


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
