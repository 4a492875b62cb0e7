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

A node executes chunks by control step (`QueueExecution`, `EnsembleExecution`; `make_execution`
picks one): it counts control steps within a run and stamps each observation with its step. A
chunk computed from the observation of step s arrives at a later step n; its action k is meant
for step s + k, so the first n - s actions are stale and skipped (`stale_steps`, in steps).
QueueExecution is ACT's queue, refilled before it runs dry, a late chunk merged into what is still
queued by `ActionQueue.merge`. EnsembleExecution is temporal ensembling for chunks that come late
and not at every step: every chunk is placed at the steps it was predicted for, so a step covered
by several chunks gets their weighted mean with the weights of `TemporalEnsembler`. Both drop the
actions of steps that passed without being executed (missed timer ticks).
"""
from __future__ import annotations

import math
from collections import deque
from typing import Protocol

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
    The synchronous case of `EnsembleExecution` (every chunk on time, one per step).
    """

    def __init__(self, chunk_size: int, coeff: float = 0.01) -> None:
        if chunk_size < 1:
            raise ValueError(f'chunk_size must be >= 1, got {chunk_size}')
        self.chunk_size = chunk_size
        self.coeff = coeff
        self._ensemble = EnsembleExecution(coeff)
        self.reset()

    def reset(self) -> None:
        self._ensemble.clear()
        self._step = 0

    def update(self, chunk: np.ndarray) -> np.ndarray:
        """Fold in the chunk predicted at this step; return the action to execute now."""
        chunk = _as_chunk(chunk)
        if len(chunk) != self.chunk_size:
            raise ValueError(f'expected a chunk of {self.chunk_size} actions, got {len(chunk)}')
        self._ensemble.add(chunk, self._step, self._step)
        action = self._ensemble.action(self._step)
        self._step += 1
        return action.astype(chunk.dtype)


# -- asynchronous execution, by control step -------------------------------------------------------


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
