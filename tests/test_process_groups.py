"""scripts/local_airflow/process_groups.py: `make ui`'s servers stop in a bounded time, even if their starter dies."""

import signal
import subprocess
import sys
import time

from local_airflow import process_groups


def process_group(script: str) -> subprocess.Popen:
    """A leader running `script` in its own session, with two children in its group."""
    return subprocess.Popen(
        ["bash", "-c", f"{script}; sleep 60 & sleep 60 & wait"], start_new_session=True, stdin=subprocess.DEVNULL
    )


def gone_soon(pgid: int) -> bool:
    deadline = time.monotonic() + 3
    while process_groups.group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not process_groups.group_alive(pgid)


def test_a_group_that_obeys_sigterm_stops_at_once():
    leader = process_group("trap 'kill $(jobs -p); exit 0' TERM")
    time.sleep(0.3)
    started = time.monotonic()
    process_groups.stop_groups([leader.pid], grace=10, reap=leader.poll)
    assert time.monotonic() - started < 3
    assert gone_soon(leader.pid)


def test_a_group_that_ignores_sigterm_is_killed_when_the_grace_period_ends():
    leader = process_group("trap '' TERM")
    time.sleep(0.3)
    started = time.monotonic()
    process_groups.stop_groups([leader.pid], grace=1, reap=leader.poll)
    leader.wait(timeout=5)
    assert 1 <= time.monotonic() - started < 4
    assert leader.returncode == -signal.SIGKILL
    assert gone_soon(leader.pid)  # the children, killed too, are reaped by init


def test_leaving_the_watchdog_block_dismisses_it_and_leaves_the_servers_to_their_starter():
    leader = process_group("trap '' TERM")
    with process_groups.watchdog(grace=0.5) as watch:
        watch(leader.pid)
    time.sleep(0.3)
    assert leader.poll() is None
    process_groups.stop_groups([leader.pid], grace=0, reap=leader.poll)
    leader.wait(timeout=5)


def test_the_watchdog_stops_the_servers_when_their_starter_dies_without_dismissing_it():
    leader = process_group("trap '' TERM")
    watchdog = subprocess.Popen(
        [sys.executable, process_groups.__file__, "--grace", "0.5"], stdin=subprocess.PIPE, text=True
    )
    watchdog.communicate(f"{leader.pid}\n", timeout=10)  # stdin closes without "done", as when the starter dies
    leader.wait(timeout=5)
    assert gone_soon(leader.pid)
