"""How a served policy turns chunks into commands: the settings shared by policy_node and ROS-free rollouts.

One dataclass, so that `dojo eval`, the ROS-free rollout, the leaderboard and the robot all run
the same controller with the same rules. policy_node declares these fields as its ROS parameters
(plus the ROS-only ones of its own config); a rollout takes them as they are.

Asynchronous chunking follows what users of LeRobot's async inference expect: the next chunk is
requested when the queue falls to `chunk_threshold` of `n_action_steps` (LeRobot's
`chunk_size_threshold`, default 0.5), its actions are aligned to the step the observation was
taken at (the ones already due are skipped), and where it overlaps what is still queued the two
are aggregated: `replace` (the new chunk wins) or `weighted_average` (`old_weight` * queued +
(1 - old_weight) * new).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from dojo_core.policies import PolicyConfig
from dojo_core.policies.execution import ChunkExecution, make_execution
from dojo_core.robot.safety import DEFAULT_MAX_STEP

EXECUTIONS = ('checkpoint', 'queue', 'temporal_ensemble')
AGGREGATIONS = ('replace', 'weighted_average')


@dataclass
class ServingConfig:
    """The serving controller's settings (policy_node parameters of the same names)."""

    control_rate_hz: float = field(default=0.0, metadata={
        'description': "Control rate (Hz, node clock); 0 = the policy's fps (else the feature map's). One "
                       'action per step: another rate plays the chunks faster or slower.', 'range': (0.0, 1000.0)})
    execution: str = field(default='checkpoint', metadata={
        'description': f"How chunks become actions, one of {EXECUTIONS}: checkpoint = the checkpoint's own "
                       '(temporal_ensemble if it sets temporal_ensemble_coeff, else queue).'})
    n_action_steps: int = field(default=0, metadata={
        'description': "queue: actions of each chunk executed before the next chunk must be there; 0 = the "
                       "checkpoint's.", 'range': (0, 10000)})
    chunk_threshold: float = field(default=0.5, metadata={
        'description': 'queue: request the next chunk when the queue holds this fraction of n_action_steps or '
                       'less (0 = only when it is empty, 1 = after every action).', 'range': (0.0, 1.0)})
    aggregate: str = field(default='replace', metadata={
        'description': f'queue: how a new chunk combines with the queued actions it overlaps, one of '
                       f'{AGGREGATIONS}.'})
    old_weight: float = field(default=0.3, metadata={
        'description': 'queue, weighted_average: weight of the queued actions where a new chunk overlaps them.',
        'range': (0.0, 1.0)})
    temporal_ensemble_coeff: float = field(default=0.01, metadata={
        'description': 'temporal_ensemble (chosen explicitly): weight exp(-coeff * i) of the i-th oldest '
                       'prediction of a step (0.01 in the ACT paper).', 'range': (0.0, 10.0)})
    max_obs_age: float = field(default=0.2, metadata={
        'description': 'Hold the last command when any observed feature is older than this (s, node clock).',
        'range': (0.001, 60.0)})
    max_step_rad: float = field(default=DEFAULT_MAX_STEP, metadata={
        'description': 'Largest change of any joint command between two control steps (rad); the default is '
                       "the expert's.", 'range': (1e-4, 3.0)})

    def __post_init__(self) -> None:
        if self.execution not in EXECUTIONS:
            raise ValueError(f'execution must be one of {EXECUTIONS}, got {self.execution!r}')
        if self.aggregate not in AGGREGATIONS:
            raise ValueError(f'aggregate must be one of {AGGREGATIONS}, got {self.aggregate!r}')
        if not 0.0 <= self.chunk_threshold <= 1.0:
            raise ValueError(f'chunk_threshold must be in [0, 1], got {self.chunk_threshold}')

    def rate_hz(self, policy: PolicyConfig, fallback_fps: float | None = None) -> float:
        """The control rate: configured, else the policy's fps, else `fallback_fps` (the feature map's)."""
        rate = self.control_rate_hz or policy.fps or fallback_fps
        if not rate:
            raise ValueError('no control rate: set control_rate_hz (the policy and the feature map give no fps)')
        return float(rate)

    def action_steps(self, policy: PolicyConfig) -> int:
        """Actions of each chunk that may run: configured, else the checkpoint's, never beyond the chunk."""
        return min(self.n_action_steps or policy.n_action_steps, policy.chunk_size)

    def refill_threshold(self, policy: PolicyConfig) -> int:
        """Queue length (actions) at or below which the next chunk is requested."""
        return int(self.chunk_threshold * self.action_steps(policy))

    def make_execution(self, policy: PolicyConfig) -> tuple[str, ChunkExecution]:
        """(description, execution) from these settings and the checkpoint's."""
        mode, coeff = self.execution, self.temporal_ensemble_coeff
        if mode == 'checkpoint':
            ensemble = policy.temporal_ensemble_coeff is not None
            mode, coeff = ('temporal_ensemble', policy.temporal_ensemble_coeff) if ensemble else ('queue', coeff)
        steps = self.action_steps(policy)
        old_weight = self.old_weight if self.aggregate == 'weighted_average' else 0.0
        if mode == 'temporal_ensemble':
            text = f'temporal_ensemble (coeff {coeff:g})'
        else:
            text = (f'queue ({steps} of {policy.chunk_size}, next chunk at {self.refill_threshold(policy)} left, '
                    f'{self.aggregate}' + (f' {old_weight:g}' if old_weight else '') + ')')
        return text, make_execution(mode, steps, coeff, old_weight)
