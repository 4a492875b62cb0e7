"""One control step of a learned policy: observation -> asynchronous inference -> chunk execution -> safety.

The one serving controller: policy_node is a thin adapter over it (subscriptions feed
`observations`, a timer calls `tick`, the result is published), and the ROS-free rollouts, `dojo
bench` and the tests drive the same object on the cell's clock (`evaluation.rollout`), so every
success rate describes the controller that serves.

Observations: the policy gets the newest value of each input at the tick, with the history axis
its config asks for (`n_obs_steps` > 1: each input is (n_obs_steps, ...) from the last ticks, the
first one repeated at the start of a run) and the task text under `task`.

Time: a run starts at the first tick after activate/enable (t0); a tick at t (node clock, sim
time under use_sim_time) acts for control step floor((t - t0) * rate + STEP_TOLERANCE) if that
step has not had its tick yet, so the node's timer may call more often than the rate (it does:
see policy_node) and a tick a little early still counts for its step. The observation of a step
is stamped with that step (the tick time, not the arrival of the last message), so a chunk
computed from it has its stale actions skipped wherever it lands. Steps without a tick are counted
as missed and their actions dropped; a clock that goes backwards (a sim reset) starts a new run.

Safety: every command goes through dojo_core's CommandLimiter, the rule the ROS-free rollouts
apply too (URDF limits, at most max_step from the previous command; a run starts from the
measured position); targets it clamps and steps it cuts are counted per joint.

Asynchronous chunking (see serving.config): the next chunk is requested when the queue holds
`chunk_threshold` of n_action_steps or less, so with inference faster than half a chunk no step
waits for one after the first of a run.

Holds: the tick returns the previous command (or nothing before the first one) and counts the
reason, when an observed feature is missing or older than `max_obs_age` ('missing:<feature>',
'stale:<feature>'), when the model output is NaN/inf ('non_finite_action') or failed
('inference_error'), and while no chunk covers the step ('waiting_for_chunk'). After an
observation or model problem the queued actions and the chunk in flight are discarded: the plan
resumes only from an observation taken after it.
"""
from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from dojo_core.metrics import EventCounter, Timings
from dojo_core.policies import Policy
from dojo_core.robot.description import JointLimits
from dojo_core.robot.safety import CommandLimiter
from dojo_core.serving.binding import FeatureBinding
from dojo_core.serving.config import ServingConfig
from dojo_core.serving.inference import InferenceWorker
from dojo_core.serving.observations import ObservationBuffer

#: Fraction of a control period by which a tick may come early and still act for its step.
STEP_TOLERANCE = 0.1
#: Inference latencies kept for the percentiles on /diagnostics.
LATENCY_WINDOW = 200
WAITING = 'waiting_for_chunk'
NON_FINITE = 'non_finite_action'
INFERENCE_ERROR = 'inference_error'


@dataclass(frozen=True)
class Tick:
    """What to publish for a step: `command` (rad, binding.joints order) or None; `hold` the reason
    the command is the previous one (None when it is new)."""

    command: np.ndarray | None
    hold: str | None = None


Worker = Callable[[Callable[[Mapping[str, Any]], np.ndarray]], Any]


class PolicyController:
    def __init__(self, policy: Policy, binding: FeatureBinding, config: ServingConfig, limits: JointLimits, *,
                 fallback_fps: float | None = None, worker: Worker = InferenceWorker) -> None:
        """`limits`: of `binding.joints`; `worker`: builds the inference worker from the predict
        function (InferenceWorker: a thread, on the robot; SimulatedLatency: ROS-free runs)."""
        self.policy = policy
        self.binding = binding
        self.config = config
        self.rate_hz = config.rate_hz(policy.config, fallback_fps)
        self.max_obs_age = config.max_obs_age
        self.execution_text, self.execution = config.make_execution(policy.config)
        self.refill_threshold = config.refill_threshold(policy.config)
        self.limiter = CommandLimiter(limits, config.max_step_rad)
        self.n_obs_steps = policy.n_obs_steps
        # Action k of a chunk is for step obs_step + first_action + k (Diffusion-style windows start in the past).
        self.first_action = policy.config.action_delta_indices[0]
        self.observations = ObservationBuffer(binding.observed, max_future_s=config.max_obs_age)
        self.worker = worker(policy.predict_chunk)
        self.holds = EventCounter()     # by reason
        self.events = EventCounter()    # chunks, stale_actions, missed_steps, clock_jumps, ...
        self.latencies = Timings(LATENCY_WINDOW)   # seconds
        self.inference_s = 0.0                      # all inferences taken, seconds
        self.last_error: str | None = None
        self.commands = 0
        self.holding: str | None = None  # reason of the last tick's hold
        self._history: deque[dict[str, np.ndarray]] = deque(maxlen=self.n_obs_steps)
        self._run = 0
        self.start_run()

    # -- runs -------------------------------------------------------------------------------------
    def start_run(self) -> None:
        """Forget steps, chunks and the command reference: at activate, enable, and clock jumps."""
        self._run += 1
        self._t0_ns: int | None = None
        self._last_ns: int | None = None
        self._step = -1
        self._accept_from = 0          # chunks observed before this step are dropped
        self.execution.clear()
        self._history.clear()
        self.limiter.last = None       # the next valid observation gives the reference
        self.holding = None

    def warm_up(self, timeout_s: float = 120.0) -> float:
        """One inference on a blank observation in the worker thread, so that lazy initialisation (in
        torch, per thread) happens now rather than in the first chunk of a run; its latency in s."""
        blank = self._policy_observation([self.binding.blank_observation()] * self.n_obs_steps)
        self.worker.submit(blank, 0, 0)   # run 0: never a real run
        deadline = time.monotonic() + timeout_s
        while (result := self.worker.take(2**62)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f'the warm-up inference took more than {timeout_s:g} s')
            time.sleep(0.001)
        if result.error is not None:
            raise RuntimeError(f'the warm-up inference failed: {result.error}')
        return result.latency_s

    def close(self) -> None:
        self.worker.close()

    # -- the step ---------------------------------------------------------------------------------
    def tick(self, now_ns: int) -> Tick | None:
        """The command for the control step at `now_ns`; None if that step already had its tick."""
        if self._last_ns is not None and now_ns < self._last_ns:
            self.events.increment('clock_jumps')
            self.start_run()
        if self._t0_ns is None:
            self._t0_ns = now_ns
        step = math.floor((now_ns - self._t0_ns) * self.rate_hz * 1e-9 + STEP_TOLERANCE)
        if step <= self._step:
            return None
        if self._step >= 0 and step > self._step + 1:
            self.events.increment('missed_steps', step - self._step - 1)
        self._step, self._last_ns = step, now_ns

        problem = self._collect(step, now_ns)
        values, missing = self.observations.snapshot(now_ns, self.max_obs_age)
        if missing is not None:
            self.execution.clear()
            self._history.clear()          # a history spans no gap
            self._accept_from = step + 1   # the chunk in flight was observed before the gap
            return self._hold(missing)
        if self.limiter.last is None:
            self.limiter.reset(self.binding.measured_position(values[self.binding.measured.name]))
        self._history.append({name: values[name] for name in self.binding.inputs})
        if self.execution.wants_chunk(step, self.refill_threshold) and problem is None \
                and self.worker.submit(self._policy_observation(list(self._history)), self._run, step, now_ns):
            problem = self._collect(step, now_ns)   # a chunk that is ready at once (no latency) acts now
        if problem is not None:
            return self._hold(problem)
        action = self.execution.action(step)
        if action is None:
            return self._hold(WAITING)
        target = self.binding.action_to_ros(action)
        if not np.all(np.isfinite(target)):
            self.execution.clear()
            return self._hold(NON_FINITE)
        command = self.limiter(target)
        self.commands += 1
        self.holding = None
        return Tick(command)

    def _policy_observation(self, history: list[dict[str, np.ndarray]]) -> dict[str, Any]:
        """The model's input: the newest values, or (n_obs_steps > 1) each input stacked over the
        last n_obs_steps ticks, the oldest repeated while the run has fewer; plus the task text."""
        if self.n_obs_steps == 1:
            observation: dict[str, Any] = dict(history[-1])
        else:
            padded = [history[0]] * (self.n_obs_steps - len(history)) + history
            observation = {name: np.stack([frame[name] for frame in padded]) for name in self.binding.inputs}
        observation['task'] = self.observations.task
        return observation

    def _collect(self, step: int, now_ns: int) -> str | None:
        """Take a finished chunk into the execution; a hold reason (and the plan dropped) if it is unusable."""
        result = self.worker.take(now_ns)
        if result is None or result.run != self._run or result.obs_step < self._accept_from:
            return None
        self.latencies.add(result.latency_s)
        self.inference_s += result.latency_s
        self.events.increment('chunks')
        if result.error is not None:
            self.last_error = result.error
            self.events.increment('inference_errors')
            self.execution.clear()
            return INFERENCE_ERROR
        if not np.all(np.isfinite(result.chunk)):
            self.events.increment('non_finite_chunks')
            self.execution.clear()
            return NON_FINITE
        self.events.increment('stale_actions',
                              self.execution.add(result.chunk, result.obs_step + self.first_action, step))
        return None

    def _hold(self, reason: str) -> Tick:
        """Repeat the last command (None before the first of the run) and count why."""
        self.holds.increment(reason)
        self.holding = reason
        return Tick(None if self.limiter.last is None else self.limiter.last.copy(), reason)

    # -- figures ----------------------------------------------------------------------------------
    def latency_ms(self) -> tuple[float, float] | None:
        """(p50, p99) of the recent inference latencies in ms (wall clock), None before the first."""
        percentiles = self.latencies.percentiles()
        return None if percentiles is None else (percentiles[0] * 1e3, percentiles[1] * 1e3)
