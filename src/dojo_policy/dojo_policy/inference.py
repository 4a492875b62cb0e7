"""The model runs in one worker thread, so the control timer never waits for it.

The control loop hands over at most one observation at a time (`submit` refuses while the
worker is busy) and picks the finished chunk up at a later tick (`take`), never blocking on
either side. Each request carries the step it was observed at and the run it belongs to, so a
chunk that finishes after the run was restarted (enable, activate) can be told apart and dropped.
An exception from the model is reported in the result, not raised: it must not kill the thread.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ChunkResult:
    """What one inference produced: the chunk or the error, for the observation of (run, obs_step)."""

    run: int
    obs_step: int
    latency_s: float
    chunk: np.ndarray | None = None
    error: str | None = None


class InferenceWorker:
    """A daemon thread calling `predict(observation)` for one request at a time."""

    def __init__(self, predict: Callable[[Mapping[str, Any]], np.ndarray], name: str = 'policy_inference') -> None:
        self._predict = predict
        self._cond = threading.Condition()
        self._request: tuple[Mapping[str, Any], int, int] | None = None
        self._result: ChunkResult | None = None
        self._busy = False
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        """A request is waiting or running."""
        with self._cond:
            return self._busy

    def submit(self, observation: Mapping[str, Any], run: int, obs_step: int) -> bool:
        """Start an inference; False (nothing done) while the previous one is still running."""
        with self._cond:
            if self._busy or self._closed:
                return False
            self._request, self._busy = (observation, run, obs_step), True
            self._cond.notify()
            return True

    def take(self) -> ChunkResult | None:
        """The finished result not yet taken, if any."""
        with self._cond:
            result, self._result = self._result, None
            return result

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the thread once the current inference (if any) is done."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout_s)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._request is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                (observation, run, obs_step), self._request = self._request, None
            start = time.perf_counter()
            chunk, error = None, None
            try:
                chunk = np.asarray(self._predict(observation))
            except Exception as exc:  # noqa: BLE001 - any model failure becomes a counted hold
                error = f'{type(exc).__name__}: {exc}'
            result = ChunkResult(run, obs_step, time.perf_counter() - start, chunk, error)
            with self._cond:
                self._result, self._busy = result, False
