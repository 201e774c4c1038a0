"""How long the compose test takes: each step prints its duration, and every wait fits in the session's time limit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class Deadline:
    """The end of the whole session (--compose-timeout), so that no single wait can outlast it."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError("the compose test's overall time limit (--compose-timeout) is reached")
        return left

    def limit(self, seconds: float) -> float:
        """A wait's own bound, cut to the time the session has left."""
        return min(seconds, self.remaining())


@contextmanager
def step(name: str) -> Iterator[None]:
    """Prints `==> name`, then `<== name: ok in N.Ns` or `FAILED after N.Ns`: where the time went, also in CI."""
    print(f"\n==> {name}", flush=True)
    started = time.monotonic()
    try:
        yield
    except BaseException:
        print(f"<== {name}: FAILED after {time.monotonic() - started:.1f}s", flush=True)
        raise
    print(f"<== {name}: ok in {time.monotonic() - started:.1f}s", flush=True)
