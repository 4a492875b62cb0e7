"""Success rate of a policy (or of the scripted expert, as the reference) over seeded SimCell episodes.

The seeds decide the cube poses, so two agents evaluated on the same seeds face the same scenes;
evaluate on seeds the training data did not use (e.g. the held-out episodes of a dataset).
Every episode is traced (`phases.TraceRecorder`: a few numbers per control step, no images) and
its outcome says where it stopped (`phases.classify`); `evaluate_with_traces` also returns the
traces, for `failures.write_failure_analysis`.
"""
from __future__ import annotations

from collections.abc import Iterable

from tqdm import tqdm

from dojo_core.cell_features import CellFeatures, sim_feature_map
from dojo_core.evaluation.phases import EpisodeTrace, TaskGeometry, TraceRecorder, classify
from dojo_core.evaluation.report import EpisodeOutcome, EvalReport, add_hold_totals, with_holds
from dojo_core.evaluation.rollout import RolloutConfig, rollout
from dojo_core.expert import ExpertConfig, run_episode
from dojo_core.kinematics.model import RobotModel
from dojo_core.policies import Policy
from dojo_core.serving import ServingConfig
from dojo_core.sim import SimCell, SimConfig
from dojo_core.sync import FeatureMap


def evaluate(agent: Policy | ExpertConfig, seeds: Iterable[int], *, name: str | None = None,
             cell: SimCell | None = None, sim_config: SimConfig | None = None,
             rollout_config: RolloutConfig | None = None, serving: ServingConfig | None = None,
             feature_map: FeatureMap | None = None, task: str = '', progress: bool = False) -> EvalReport:
    """One episode per seed; `agent` is a loaded policy or an ExpertConfig (the scripted expert).

    Without `cell`, one is built from `sim_config`, or for a policy with the camera sizes it was
    trained on. `rollout_config`, `serving`, `feature_map` and `task` apply to policies (see
    `rollout`: the policy is served by the serving controller, as policy_node serves it).
    """
    return evaluate_with_traces(agent, seeds, name=name, cell=cell, sim_config=sim_config,
                                rollout_config=rollout_config, serving=serving, feature_map=feature_map, task=task,
                                progress=progress)[0]


def evaluate_with_traces(agent: Policy | ExpertConfig, seeds: Iterable[int], *, name: str | None = None,
                         cell: SimCell | None = None, sim_config: SimConfig | None = None,
                         rollout_config: RolloutConfig | None = None, serving: ServingConfig | None = None,
                         feature_map: FeatureMap | None = None, task: str = '',
                         progress: bool = False) -> tuple[EvalReport, list[EpisodeTrace]]:
    """`evaluate`, and the trace of every episode (in seed order) for the failure analysis."""
    seeds = list(seeds)
    is_policy = isinstance(agent, Policy)
    if is_policy:
        feature_map = feature_map or sim_feature_map(agent.config)
        features = CellFeatures.from_feature_map(feature_map)
        rollout_config = rollout_config or RolloutConfig()
        serving = serving or ServingConfig()
        info = {'agent': f'{agent.config.type} policy', 'fps': agent.config.fps, 'chunk_size': agent.config.chunk_size,
                'n_action_steps': serving.action_steps(agent.config),
                'execution': serving.make_execution(agent.config)[0],
                'time_limit_s': rollout_config.time_limit_s, 'max_steps': rollout_config.max_steps,
                'latency_s': rollout_config.latency_s, 'max_step_rad': serving.max_step_rad}
    elif isinstance(agent, ExpertConfig):
        info = {'agent': 'scripted pick-and-place expert', 'noise': agent.noise}
    else:
        raise TypeError(f'evaluate takes a Policy or an ExpertConfig, got {type(agent).__name__}')
    own_cell = cell is None
    if own_cell:
        cell = SimCell(features.sim_config(sim_config) if is_policy else sim_config)
    report = EvalReport(name or (f'{agent.config.type} policy' if is_policy else 'expert'), [], info)
    model = None if is_policy else RobotModel(cell.urdf)
    geometry = TaskGeometry.of(cell.config, None if is_policy else agent)
    holds, traces = [], []
    try:
        bar = tqdm(seeds, desc=report.name, unit='episode', disable=not progress, dynamic_ncols=True)
        for seed in bar:
            recorder = TraceRecorder(geometry)
            if is_policy:
                result = rollout(agent, cell, seed, rollout_config, serving=serving, feature_map=feature_map,
                                 task=task, on_step=recorder)
                holds.append(result.holds)
                reason = with_holds(result.reason, result.holds)
            else:
                result = run_episode(cell, seed, agent, model, on_step=recorder)
                reason = result.reason
            traces.append(recorder.finish(cell, seed, result.success))
            diagnosis = classify(traces[-1])
            report.episodes.append(EpisodeOutcome(int(seed), result.success, result.duration_s, result.steps, reason,
                                                  diagnosis.phase.value, diagnosis.detail))
            bar.set_postfix(success=f'{report.successes}/{report.trials}')
    finally:
        if own_cell:
            cell.close()
    if is_policy:
        add_hold_totals(report, holds)
    return report, traces
