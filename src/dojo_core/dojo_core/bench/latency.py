"""Inference latency of a policy as served: every chunk prediction the serving controller asks for.

The serving controller calls `policy.predict_chunk` (through its inference worker) on the
observations of the episode, so timing that call during the evaluation measures the real
observations, shapes and devices of serving, and no extra predictions are made. The timing is
installed on the instance only for the duration of the block.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from dojo_core.policies import Policy


@dataclass
class Latencies:
    """Wall seconds of each chunk prediction."""

    seconds: list[float] = field(default_factory=list)

    def percentile_ms(self, q: float) -> float | None:
        """The q-th percentile in milliseconds (None without predictions)."""
        return float(np.percentile(self.seconds, q) * 1000.0) if self.seconds else None


@contextmanager
def timed_predictions(policy: Policy) -> Iterator[Latencies]:
    """Inside the block, every `policy.predict_chunk` call is timed into the yielded Latencies."""
    latencies = Latencies()
    predict = policy.predict_chunk

    def timed(observation: object) -> np.ndarray:
        start = time.perf_counter()
        chunk = predict(observation)   # returns numpy: a GPU prediction has finished by then
        latencies.seconds.append(time.perf_counter() - start)
        return chunk

    policy.predict_chunk = timed   # an instance attribute: shadows the method for this policy only
    try:
        yield latencies
    finally:
        del policy.predict_chunk
