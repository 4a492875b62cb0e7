"""Executing action chunks that arrive asynchronously, one action per control step.

The node counts control steps within a run (0 at the first tick after activate/enable) and
stamps each observation with its step. A chunk computed from the observation of step s arrives
at a later step n; its action k is meant for step s + k, so the first n - s actions are stale
and skipped (dojo_core.policies.execution.stale_steps, in units of steps).

* QueueExecution: ACT's queue (`n_action_steps` of each chunk, open loop), refilled before it
  runs dry; a late chunk is merged into what is still queued by ActionQueue.merge.
* EnsembleExecution: temporal ensembling (ACT paper 3.3) for chunks that come late and not at
  every step. dojo_core's TemporalEnsembler folds one on-time chunk per step; here every chunk
  is placed at the steps it was predicted for, so a step covered by several chunks gets their
  weighted mean with the same weights, exp(-coeff * i), i = 0 for the oldest prediction.

Both drop the actions of steps that passed without being executed (missed timer ticks).
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from dojo_core.policies import ActionQueue, stale_steps


class ChunkExecution(Protocol):
    def add(self, chunk: np.ndarray, obs_step: int, step: int) -> int:
        """Take a chunk observed at `obs_step`, arriving before the action of `step`; returns the stale actions."""

    def action(self, step: int) -> np.ndarray | None:
        """The action for `step` (None if nothing covers it); earlier steps are dropped."""

    def wants_chunk(self, step: int, threshold: int) -> bool:
        """Whether to ask for a new chunk at `step` (queue: at most `threshold` actions left)."""

    def clear(self) -> None:
        """Forget everything (a new run, a hold)."""


class QueueExecution:
    def __init__(self, n_action_steps: int, old_weight: float = 0.0) -> None:
        self.queue = ActionQueue(n_action_steps)
        self.old_weight = old_weight
        self._head = 0  # step of the queue's first action

    def _align(self, step: int) -> None:
        while self._head < step and not self.queue.empty:
            self.queue.pop()
            self._head += 1
        self._head = max(self._head, step)

    def add(self, chunk: np.ndarray, obs_step: int, step: int) -> int:
        self._align(step)
        # Steps are the time unit: fps 1 makes stale_steps count whole steps.
        return self.queue.merge(chunk, float(obs_step), float(step), 1.0, self.old_weight)

    def action(self, step: int) -> np.ndarray | None:
        self._align(step)
        if self.queue.empty:
            return None
        self._head = step + 1
        return self.queue.pop()

    def wants_chunk(self, step: int, threshold: int) -> bool:
        self._align(step)
        return len(self.queue) <= threshold

    def clear(self) -> None:
        self.queue.clear()


class EnsembleExecution:
    def __init__(self, coeff: float) -> None:
        self.coeff = coeff
        self.clear()

    def clear(self) -> None:
        self._start = 0                         # step of row 0
        self._sum: np.ndarray | None = None     # (steps, A): weighted sum of the predictions of each step
        self._weight = np.zeros(0)              # (steps,): sum of their weights
        self._count = np.zeros(0, dtype=int)    # (steps,): predictions folded in

    def _drop_before(self, step: int) -> None:
        drop = min(max(0, step - self._start), len(self._weight))
        if self._sum is not None:
            self._sum, self._weight, self._count = self._sum[drop:], self._weight[drop:], self._count[drop:]
        self._start = step if not len(self._weight) else self._start + drop

    def add(self, chunk: np.ndarray, obs_step: int, step: int) -> int:
        self._drop_before(step)
        skipped = min(stale_steps(float(obs_step), float(step), 1.0), len(chunk))
        fresh = np.asarray(chunk[skipped:], dtype=np.float64)
        if not len(fresh):
            return skipped
        # After _drop_before, row 0 is `step`: the fresh actions cover rows 0 .. len(fresh) - 1.
        rows = len(fresh)
        if self._sum is None or rows > len(self._weight):
            grow = rows - len(self._weight)
            previous = self._sum if self._sum is not None else np.zeros((0, fresh.shape[1]))
            self._sum = np.concatenate([previous, np.zeros((grow, fresh.shape[1]))])
            self._weight = np.concatenate([self._weight, np.zeros(grow)])
            self._count = np.concatenate([self._count, np.zeros(grow, dtype=int)])
        weights = np.exp(-self.coeff * self._count[:rows])
        self._sum[:rows] += weights[:, None] * fresh
        self._weight[:rows] += weights
        self._count[:rows] += 1
        return skipped

    def action(self, step: int) -> np.ndarray | None:
        self._drop_before(step)
        if not len(self._weight):
            return None
        action = self._sum[0] / self._weight[0]
        self._drop_before(step + 1)
        return action

    def wants_chunk(self, step: int, threshold: int) -> bool:
        return True  # a prediction at every step


def make_execution(mode: str, n_action_steps: int, coeff: float, old_weight: float) -> ChunkExecution:
    """'queue' or 'temporal_ensemble'."""
    if mode == 'queue':
        return QueueExecution(n_action_steps, old_weight)
    if mode == 'temporal_ensemble':
        return EnsembleExecution(coeff)
    raise ValueError(f"execution must be 'queue' or 'temporal_ensemble', got {mode!r}")
