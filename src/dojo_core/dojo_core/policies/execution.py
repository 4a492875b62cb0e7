"""Turning predicted action chunks into one action per control step.

A chunking policy predicts `chunk_size` actions from one observation; action k of a chunk is meant
for the control step k periods after that observation (k = 0 is the observation's own step).
Three ways to execute them:

- `ActionQueue`: run the first `n_action_steps` actions open loop, then ask for a new chunk
  (ACT's default: the whole chunk).
- `TemporalEnsembler`: predict every step and execute a weighted average of all chunks that cover
  the step (ACT paper, section 3.3).
- Asynchronous inference: the next chunk is computed while the queue still runs; it arrives late,
  so `skip_stale` drops the actions whose time has passed and `ActionQueue.merge` replaces (or
  blends) the queued actions with the fresh ones.
"""
from __future__ import annotations

import math
from collections import deque

import numpy as np

# Absorbs float error in (t_now - t_obs) * fps so that an action due exactly now is not stale.
_TICK_TOLERANCE = 1e-6


def _as_chunk(chunk: np.ndarray) -> np.ndarray:
    chunk = np.asarray(chunk)
    if chunk.ndim != 2:
        raise ValueError(f'an action chunk is (steps, action_dim), got shape {chunk.shape}')
    return chunk


def stale_steps(t_obs: float, t_now: float, fps: float) -> int:
    """How many leading actions of a chunk observed at t_obs are already due before t_now."""
    if fps <= 0:
        raise ValueError(f'fps must be positive, got {fps}')
    return max(0, math.ceil((t_now - t_obs) * fps - _TICK_TOLERANCE))


def skip_stale(chunk: np.ndarray, t_obs: float, t_now: float, fps: float) -> np.ndarray:
    """The actions of `chunk` still to come at t_now.

    Action k is due at t_obs + k / fps; those due strictly before t_now are dropped, so the first
    returned action is the one for the control step at t_now (or the first step after it). Pass as
    t_now the nominal time of the control step about to run. May return an empty (0, A) array when
    the chunk arrived after all its actions were due.
    """
    chunk = _as_chunk(chunk)
    return chunk[stale_steps(t_obs, t_now, fps):]


def merge_chunks(queued: np.ndarray, fresh: np.ndarray, old_weight: float = 0.0) -> np.ndarray:
    """Combine two aligned action sequences (both start at the current step) into the new queue.

    Where both cover a step the result is old_weight * queued + (1 - old_weight) * fresh
    (0 = the fresh chunk replaces the queue; LeRobot's async client blends with 0.3); after that
    only the fresh actions remain: the newer prediction decides how long the queue is.
    """
    fresh = _as_chunk(fresh)
    if not 0.0 <= old_weight <= 1.0:
        raise ValueError(f'old_weight must be in [0, 1], got {old_weight}')
    merged = fresh.astype(np.result_type(fresh, np.float32), copy=True)
    if len(queued):
        queued = _as_chunk(queued)
        n = min(len(queued), len(fresh))
        merged[:n] = old_weight * queued[:n] + (1.0 - old_weight) * fresh[:n]
    return merged


class ActionQueue:
    """Actions waiting to run, one per control step, refilled from chunks."""

    def __init__(self, n_action_steps: int) -> None:
        if n_action_steps < 1:
            raise ValueError(f'n_action_steps must be >= 1, got {n_action_steps}')
        self.n_action_steps = n_action_steps
        self._actions: deque[np.ndarray] = deque()

    def __len__(self) -> int:
        return len(self._actions)

    @property
    def empty(self) -> bool:
        return not self._actions

    def clear(self) -> None:
        self._actions.clear()

    def push(self, chunk: np.ndarray) -> None:
        """Replace the queue with the first n_action_steps actions of a chunk observed at this step."""
        self._actions = deque(_as_chunk(chunk)[:self.n_action_steps])

    def pop(self) -> np.ndarray:
        """The action for this control step."""
        if not self._actions:
            raise IndexError('the action queue is empty: push a new chunk first')
        return self._actions.popleft()

    def merge(self, chunk: np.ndarray, t_obs: float, t_now: float, fps: float, old_weight: float = 0.0) -> int:
        """Asynchronous refill: a chunk observed at t_obs arrives at t_now (call before this step's pop).

        Only the first n_action_steps actions of the chunk count (as in `push`); of those, the ones
        already due are skipped and the rest merged with the queued actions (see `merge_chunks`).
        The queue head must be the action for the step at t_now, i.e. one action was popped per
        step since the last refill. Returns the number of stale actions skipped.
        """
        chunk = _as_chunk(chunk)[:self.n_action_steps]
        skipped = min(stale_steps(t_obs, t_now, fps), len(chunk))
        queued = np.asarray(self._actions) if self._actions else np.empty((0, chunk.shape[1]))
        self._actions = deque(merge_chunks(queued, chunk[skipped:], old_weight))
        return skipped


class TemporalEnsembler:
    """ACT temporal ensembling: the action for step t averages every chunk prediction for step t.

    Call `update` once per control step with the chunk predicted at that step. Among the chunks that
    cover step t, index i counts from the OLDEST (i = 0: the chunk predicted chunk_size - 1 steps
    ago, or the first chunk after a reset) to the newest (the chunk predicted at t); the weights
    are w_i = exp(-coeff * i), so older predictions weigh more, as in the ACT paper (coeff 0.01).
    The running weighted mean is updated in place, O(chunk_size * action_dim) per step.
    """

    def __init__(self, chunk_size: int, coeff: float = 0.01) -> None:
        if chunk_size < 1:
            raise ValueError(f'chunk_size must be >= 1, got {chunk_size}')
        self.chunk_size = chunk_size
        self.coeff = coeff
        self._weights = np.exp(-coeff * np.arange(chunk_size))
        self._weight_sums = np.cumsum(self._weights)
        self.reset()

    def reset(self) -> None:
        self._mean: np.ndarray | None = None  # (pending steps, A): weighted mean for steps t, t+1, ...
        self._count = np.zeros(0, dtype=int)  # predictions folded into each pending step

    def update(self, chunk: np.ndarray) -> np.ndarray:
        """Fold in the chunk predicted at this step; return the action to execute now."""
        chunk = _as_chunk(chunk)
        if len(chunk) != self.chunk_size:
            raise ValueError(f'expected a chunk of {self.chunk_size} actions, got {len(chunk)}')
        if self._mean is None:
            mean, count = chunk.astype(np.float64), np.ones(self.chunk_size, dtype=int)
        else:
            n = len(self._mean)
            old_sum = self._weight_sums[self._count - 1][:, None]
            new_weight = self._weights[self._count][:, None]
            overlap = (self._mean * old_sum + new_weight * chunk[:n]) / (old_sum + new_weight)
            mean = np.concatenate([overlap, chunk[n:].astype(np.float64)])
            count = np.concatenate([self._count + 1, np.ones(self.chunk_size - n, dtype=int)])
        self._mean, self._count = mean[1:], count[1:]
        return mean[0].astype(chunk.dtype)
