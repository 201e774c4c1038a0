"""Each worker's model: the version serving now, swapped atomically for a new one once that is loaded and warm.

A thread per worker asks where the source points every `poll_seconds`. A new version is loaded beside the serving one
and replaces it in one assignment; a request holds the version it started with until it ends, so none meets a
half-loaded model. A version that fails is not swapped in and is tried again after a growing pause.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

from ml_pipeline.errors import PipelineError
from serving import metrics
from serving.loading import ServedModel, Source, current_version, load

log = logging.getLogger("serving")
MAX_RETRY_PAUSE = 300.0  # seconds between attempts at a version that failed, at most


@dataclass
class Failure:
    version: str
    reason: str
    attempts: int = 1
    retry_at: float = field(default=0.0)


class ModelFollower:
    """The serving version of one worker, and the thread that keeps it where the source points."""

    def __init__(self, source: Source, poll_seconds: float, load_timeout_seconds: float) -> None:
        self.source = source
        self.poll_seconds = poll_seconds
        self.load_timeout_seconds = load_timeout_seconds
        self.model: ServedModel | None = None  # replaced whole, never changed in place
        self.waiting_for: str | None = "the first check of the registry"  # why there is no model yet
        self.failure: Failure | None = None  # the newest version that could not be swapped in
        self.registry_problem: str | None = None
        self.first_check_done = threading.Event()  # a worker accepts requests only after it (serving/app.py)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-loader")

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="model-follower", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._loader.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.check()
            self.first_check_done.set()
            if self.model is not None and not self.source.follows:
                return  # pinned: nothing will ever move
            self._stop.wait(self.poll_seconds)

    def check(self) -> None:
        """One look at the source; loads and swaps in the version it points at, if that is new and due."""
        try:
            version = current_version(self.source)
        except PipelineError as error:  # no such model or alias yet: keep serving what there is, keep asking
            self._note_registry(str(error))
            return
        except Exception as error:
            self._note_registry(f"the registry did not answer: {' '.join(str(error).split())[:300]}")
            return
        self.registry_problem = None
        if self.model is not None and self.model.version == version:
            return
        if self.failure and self.failure.version == version and time.monotonic() < self.failure.retry_at:
            return
        self._swap_to(version)

    def _note_registry(self, problem: str) -> None:
        if problem != self.registry_problem:
            log.warning("%s: %s", self.source.uri, problem)
        self.registry_problem = problem
        if self.model is None:
            self.waiting_for = problem

    def _swap_to(self, version: str) -> None:
        serving = f"v{self.model.version} keeps serving" if self.model else "nothing is served yet"
        beside = " beside the serving one" if self.model else ""
        log.info("%s points at v%s: loading it%s (%s)", self.source.uri, version, beside, serving)
        try:
            model = self._loader.submit(load, self.source, version).result(timeout=self.load_timeout_seconds)
        except FutureTimeout:
            self._failed(version, f"not loaded and warm within {self.load_timeout_seconds:g} s", serving)
            self._loader.shutdown(wait=False, cancel_futures=True)  # a stuck load must not hold the next attempt
            self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-loader")
            return
        except Exception as error:
            self._failed(version, " ".join(str(error).split())[:500], serving)
            return
        previous, self.model = self.model, model  # the swap: requests from here on get the new version
        self.failure = None
        self.waiting_for = None
        metrics.swapped(model.version)
        was = f"v{previous.version}" if previous else "nothing"
        log.info("Serving %s v%s (was %s; loaded and warm in %.1f s)", model.name, version, was, model.load_seconds)

    def _failed(self, version: str, reason: str, serving: str) -> None:
        attempts = self.failure.attempts + 1 if self.failure and self.failure.version == version else 1
        pause = min(self.poll_seconds * 2**attempts, MAX_RETRY_PAUSE)
        self.failure = Failure(version, reason, attempts, time.monotonic() + pause)
        if self.model is None:
            self.waiting_for = f"v{version} failed to load"
        metrics.swap_failed()
        log.error("v%s was not swapped in (%s); %s; next attempt in %.0f s", version, reason, serving, pause)

    def health(self) -> dict[str, object]:
        """What /health reports: the version serving (or why none is), the source, the last failure."""
        model = self.model
        report: dict[str, object] = {
            "status": "serving" if model else "waiting",
            "source": self.source.uri,
            "follows_alias": self.source.follows,
            "model": {"name": model.name, "version": model.version} if model else None,
        }
        if model is None:
            report["waiting_for"] = self.waiting_for
        if self.failure:
            report["failed_version"] = {"version": self.failure.version, "reason": self.failure.reason,
                                        "attempts": self.failure.attempts}  # fmt: skip
        if self.registry_problem:
            report["registry_problem"] = self.registry_problem
        return report
