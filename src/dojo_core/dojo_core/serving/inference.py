"""The model runs in one worker thread, so the control timer never waits for it.

The control loop hands over at most one observation at a time (`submit` refuses while the
worker is busy) and picks the finished chunk up at a later tick (`take`), never blocking on
either side. Each request carries the step it was observed at and the run it belongs to, so a
chunk that finishes after the run was restarted (enable, activate) can be told apart and dropped.
An exception from the model is reported in the result, not raised: it must not kill the thread.

`SimulatedLatency` is the same contract for a ROS-free run that goes faster than real time: the
model runs at `submit`, and its chunk becomes available to `take` only once the run's clock has
passed the submit time plus the latency (the measured wall time of that inference, or a fixed
one), so the controller sees chunks as late as it would on the robot at real time.
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

    def submit(self, observation: Mapping[str, Any], run: int, obs_step: int, now_ns: int = 0) -> bool:
        """Start an inference; False (nothing done) while the previous one is still running."""
        with self._cond:
            if self._busy or self._closed:
                return False
            self._request, self._busy = (observation, run, obs_step), True
            self._cond.notify()
            return True

    def take(self, now_ns: int = 0) -> ChunkResult | None:
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
            result = run_inference(self._predict, observation, run, obs_step)
            with self._cond:
                self._result, self._busy = result, False


def run_inference(predict: Callable[[Mapping[str, Any]], np.ndarray], observation: Mapping[str, Any], run: int,
                  obs_step: int) -> ChunkResult:
    """One timed call of the model; an exception becomes the result's error."""
    start = time.perf_counter()
    chunk, error = None, None
    try:
        chunk = np.asarray(predict(observation))
    except Exception as exc:  # noqa: BLE001 - any model failure becomes a counted hold
        error = f'{type(exc).__name__}: {exc}'
    return ChunkResult(run, obs_step, time.perf_counter() - start, chunk, error)


class SimulatedLatency:
    """InferenceWorker's contract on a simulated clock: the chunk is ready `latency` after the submit.

    `latency_s` None = the measured wall time of each inference (what the robot would wait at real
    time); a number = that fixed latency (reproducible runs, or a slower target machine).
    """

    def __init__(self, predict: Callable[[Mapping[str, Any]], np.ndarray], latency_s: float | None = None) -> None:
        if latency_s is not None and latency_s < 0:
            raise ValueError(f'latency_s must be >= 0, got {latency_s}')
        self._predict = predict
        self.latency_s = latency_s
        self._pending: tuple[int, ChunkResult] | None = None   # (ready at ns, result)

    @property
    def busy(self) -> bool:
        return self._pending is not None

    def submit(self, observation: Mapping[str, Any], run: int, obs_step: int, now_ns: int = 0) -> bool:
        if self._pending is not None:
            return False
        result = run_inference(self._predict, observation, run, obs_step)
        latency = result.latency_s if self.latency_s is None else self.latency_s
        self._pending = (now_ns + round(latency * 1e9), result)
        return True

    def take(self, now_ns: int = 0) -> ChunkResult | None:
        if self._pending is None or now_ns < self._pending[0]:
            return None
        result, self._pending = self._pending[1], None
        return result

    def close(self, timeout_s: float = 5.0) -> None:
        self._pending = None
