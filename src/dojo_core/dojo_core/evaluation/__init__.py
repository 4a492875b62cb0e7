"""Evaluating agents: success statistics and reports (`report`, shared with the ROS `dojo eval`),
ROS-free closed-loop rollouts of policies on the SimCell (`rollout`, `evaluate`), and where the
failures stopped (`phases`: traces and their classification; `failures`: the analysis files).

    from dojo_core.evaluation import evaluate_with_traces, write_failure_analysis, write_report
    report, traces = evaluate_with_traces(load_policy('run/checkpoints/last/pretrained_model'), range(1000, 1050))
    print(report.summary()); write_report(report, 'run/eval'); write_failure_analysis(report, traces, 'run/eval')
"""
from dojo_core.cell_features import CameraFeature, CellFeatures, JointFeature
from dojo_core.evaluation.evaluate import evaluate, evaluate_with_traces
from dojo_core.evaluation.failures import FailureFiles, write_failure_analysis
from dojo_core.evaluation.phases import Diagnosis, EpisodeTrace, Phase, TaskGeometry, TraceRecorder, classify
from dojo_core.evaluation.report import (EpisodeOutcome, EvalReport, ReportFiles, plot_success_rates, wilson_interval,
                                         write_report)
from dojo_core.evaluation.rollout import RolloutConfig, RolloutResult, rollout
from dojo_core.robot.safety import DEFAULT_MAX_STEP, CommandLimiter

__all__ = [
    'DEFAULT_MAX_STEP', 'CameraFeature', 'CellFeatures', 'CommandLimiter', 'Diagnosis', 'EpisodeOutcome',
    'EpisodeTrace', 'EvalReport', 'FailureFiles', 'JointFeature', 'Phase', 'ReportFiles', 'RolloutConfig',
    'RolloutResult', 'TaskGeometry', 'TraceRecorder', 'classify', 'evaluate', 'evaluate_with_traces',
    'plot_success_rates', 'rollout', 'wilson_interval', 'write_failure_analysis', 'write_report',
]
