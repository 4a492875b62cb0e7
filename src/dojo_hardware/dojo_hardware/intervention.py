"""When is a human intervening through the leader arm? A rule, held for a while so it does not flicker.

RL with human interventions needs a boolean per step: "the operator has taken over". Which rule
fits depends on the setup:

* `deviation`: the leader is more than `threshold_rad` away from the follower on some joint (the
  operator moved the leader away from where the policy has the follower);
* `motion`: some leader joint moved faster than `speed_rad_s` (speed measured over `window_s`,
  so one-tick encoder noise at 100 Hz does not count as motion);
* `always` / `off`: constant, for pure teleoperation or pure autonomy.

A trigger keeps the signal on for `hold_s` after it was last seen, so the signal does not toggle
at every sample around a threshold. No ROS here: leader_arm feeds it readings.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

INTERVENTION_MODES = ('off', 'always', 'deviation', 'motion')


@dataclass
class InterventionRule:
    mode: str = 'off'
    threshold_rad: float = 0.15
    speed_rad_s: float = 0.5
    hold_s: float = 0.5
    window_s: float = 0.1

    def __post_init__(self) -> None:
        if self.mode not in INTERVENTION_MODES:
            raise ValueError(f'intervention mode must be one of {INTERVENTION_MODES}, got {self.mode!r}')


class InterventionDetector:
    """Feed it every leader reading (`update`); it answers whether an intervention is on."""

    def __init__(self, rule: InterventionRule):
        self.rule = rule
        self.deviation = 0.0  # largest |leader - follower| of the last update, rad (deviation mode)
        self.speed = 0.0  # largest leader joint speed of the last update, rad/s (motion mode)
        self._history: deque[tuple[float, np.ndarray]] = deque()
        self._last_trigger: float | None = None

    def update(self, now: float, leader: np.ndarray, follower: np.ndarray | None = None) -> bool:
        """`now` in seconds (monotonic), `leader` positions, `follower` positions in the same order
        (NaN or None where unknown)."""
        mode = self.rule.mode
        if mode in ('off', 'always'):
            return mode == 'always'
        if mode == 'deviation':
            triggered = self._deviates(leader, follower)
        else:
            triggered = self._moves(now, leader)
        if triggered:
            self._last_trigger = now
        return self._last_trigger is not None and now - self._last_trigger <= self.rule.hold_s

    def _deviates(self, leader: np.ndarray, follower: np.ndarray | None) -> bool:
        if follower is None:
            self.deviation = 0.0
            return False
        difference = np.abs(np.asarray(leader, dtype=float) - follower)
        self.deviation = float(np.nanmax(difference)) if not np.isnan(difference).all() else 0.0
        return self.deviation > self.rule.threshold_rad

    def _moves(self, now: float, leader: np.ndarray) -> bool:
        history = self._history
        history.append((now, np.asarray(leader, dtype=float).copy()))
        while len(history) > 1 and now - history[1][0] >= self.rule.window_s:
            history.popleft()  # keep one sample at least window_s old
        then, old = history[0]
        self.speed = float(np.max(np.abs(history[-1][1] - old))) / (now - then) if now > then else 0.0
        return self.speed > self.rule.speed_rad_s
