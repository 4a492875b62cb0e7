"""Evaluating agents: success statistics and reports (`report`, shared with the ROS `dojo eval`), and
ROS-free closed-loop rollouts of policies on the SimCell (`rollout`, `evaluate`).

    from dojo_core.evaluation import evaluate, write_report
    report = evaluate(load_policy('run/checkpoints/last/pretrained_model'), seeds=range(1000, 1050))
    print(report.summary()); write_report(report, 'run/eval')
"""
from dojo_core.cell_features import CameraFeature, CellFeatures, JointFeature
from dojo_core.evaluation.evaluate import evaluate
from dojo_core.evaluation.report import (EpisodeOutcome, EvalReport, ReportFiles, plot_success_rates, wilson_interval,
                                         write_report)
from dojo_core.evaluation.rollout import RolloutConfig, RolloutResult, rollout
from dojo_core.robot.safety import DEFAULT_MAX_STEP, CommandLimiter

__all__ = [
    'DEFAULT_MAX_STEP', 'CameraFeature', 'CellFeatures', 'CommandLimiter', 'EpisodeOutcome', 'EvalReport',
    'JointFeature', 'ReportFiles', 'RolloutConfig', 'RolloutResult', 'evaluate', 'plot_success_rates', 'rollout',
    'wilson_interval', 'write_report',
]
