"""One leaderboard row: train a method on a dataset under a budget, then evaluate it as it is served.

Training is `run_training`, what `dojo train` runs, with the budget's wall-clock limit
(`TrainConfig.time_limit_s`) and the preset's step count as the cap. Evaluation is
`dojo_core.evaluation.evaluate_with_traces` on the last checkpoint, loaded as `dojo eval --ros-free` and
policy_node load it: `load_policy`, the feature map embedded in the checkpoint
(`resolve_feature_map`) and policy_node's default serving settings (`ServingConfig()`, the values
of config/policy.yaml), so the success rate is the one the served policy would have. The chunk
predictions of that evaluation give the latency figures (`timed_predictions`).

Run directory (`<runs>/<method>-<preset>-<budget>/`): what `dojo train` writes, plus
bench_training.json (the training's wall time, steps and limits, read again by `reuse`) and
eval/ (the full evaluation report: report.md, report.json, success.png, and the failure analysis:
failures.md, failures.json, a plot per failure class).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from dojo_core.bench.budget import Budget, torch_threads
from dojo_core.bench.latency import timed_predictions
from dojo_core.bench.leaderboard import BenchRow, policy_inputs, row_label
from dojo_core.dataset import LeRobotDatasetReader
from dojo_core.evaluation import RolloutConfig, evaluate_with_traces, write_failure_analysis, write_report
from dojo_core.expert.dataset import DEFAULT_FEATURES, ExpertDatasetSummary, record_expert_dataset
from dojo_core.policies import load_policy
from dojo_core.serving import ServingConfig, resolve_feature_map
from dojo_core.sim.protocol import TIME_LIMIT_S
from dojo_core.sync import FeatureMap
from dojo_core.training.checkpoint import CHECKPOINTS_DIR, PRETRAINED_DIR, TRAIN_CONFIG, last_checkpoint
from dojo_core.training.config import TrainConfig
from dojo_core.training.run import run_training

TRAINING_RECORD = 'bench_training.json'
EVAL_DIR = 'eval'
DEFAULT_RUNS = Path('outputs/bench')
DEMO_SEED = 1   # expert demonstrations use seeds 1..N; held-out seeds must lie elsewhere


@dataclass(frozen=True)
class BenchConfig:
    """What every row of a bench run shares: the held-out seeds, the episode limit, where runs go."""

    seeds: Sequence[int]
    episode_time_limit_s: float = TIME_LIMIT_S
    runs_dir: Path = DEFAULT_RUNS
    reuse: bool = False     # evaluate a run directory's existing training again instead of refusing it
    progress: bool = True

    def __post_init__(self) -> None:
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError('the held-out seeds must be distinct and at least one')
        if self.episode_time_limit_s <= 0:
            raise ValueError(f'the episode time limit must be positive, got {self.episode_time_limit_s}')


@dataclass(frozen=True)
class DatasetFacts:
    """What identifies the dataset of a row without copying it."""

    episodes: int
    frames: int
    bytes: int
    meta_sha256: str   # of meta/ (episodes, stats, info): changes whenever the recorded data does

    @classmethod
    def of(cls, root: str | os.PathLike) -> DatasetFacts:
        root = Path(root)
        reader = LeRobotDatasetReader(root)
        files = sorted(p for p in root.rglob('*') if p.is_file())
        digest = hashlib.sha256()
        for path in (p for p in files if p.relative_to(root).parts[0] == 'meta'):
            digest.update(str(path.relative_to(root)).encode() + b'\0' + path.read_bytes())
        return cls(reader.num_episodes, reader.num_frames, sum(p.stat().st_size for p in files), digest.hexdigest())


@dataclass(frozen=True)
class TrainingRecord:
    """How the training of a row went (bench_training.json in its run directory)."""

    wall_s: float
    steps: int
    time_limited: bool
    time_limit_s: float
    step_cap: int
    batch_size: int

    def write(self, run_dir: Path) -> None:
        (run_dir / TRAINING_RECORD).write_text(json.dumps(dataclasses.asdict(self), indent=2) + '\n')

    @classmethod
    def read(cls, run_dir: Path) -> TrainingRecord:
        path = run_dir / TRAINING_RECORD
        if not path.is_file():
            raise FileNotFoundError(f'{run_dir} holds no {TRAINING_RECORD}: it was not trained by dojo bench, so its '
                                    'training budget is unknown')
        return cls(**json.loads(path.read_text()))


def ensure_dataset(root: str | os.PathLike, demos: int, feature_map: FeatureMap | str = DEFAULT_FEATURES,
                   progress: bool = True) -> ExpertDatasetSummary | None:
    """Record `demos` scripted-expert episodes (seeds 1, 2, ...) into `root` unless it exists; the summary, or None."""
    if Path(root).exists():
        return None
    return record_expert_dataset(root, demos, seed=DEMO_SEED, feature_map=feature_map, progress=progress)


def format_seeds(seeds: Sequence[int]) -> str:
    """[1001, ..., 1050] -> '1001:1051' (contiguous: start:stop, stop excluded); otherwise '3,5,9'."""
    seeds = list(seeds)
    if seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f'{seeds[0]}:{seeds[0] + len(seeds)}'
    return ','.join(str(s) for s in seeds)


def run_dir(runs_dir: str | os.PathLike, method: str, preset: str, budget: Budget) -> Path:
    return Path(runs_dir) / f'{method}-{preset}-{budget.name}'


def train_row(dataset: str | os.PathLike, method: str, preset: str, budget: Budget, out: Path,
              progress: bool = True) -> TrainingRecord:
    """Train `method` (`preset`) on `dataset` into `out` under `budget`; the record is also written there."""
    config = TrainConfig(steps=budget.steps, batch_size=budget.batch_size, device=budget.device,
                         time_limit_s=budget.time_limit_s, progress=progress,
                         **({} if budget.num_workers is None else {'num_workers': budget.num_workers}))
    started = time.perf_counter()
    result = run_training(dataset, out, policy=method, preset=preset, train_config=config)
    wall_s = time.perf_counter() - started
    resolved = json.loads((result.checkpoint / TRAIN_CONFIG).read_text())
    record = TrainingRecord(wall_s, result.step, result.time_limited, budget.time_limit_s, resolved['steps'],
                            resolved['batch_size'])
    record.write(out)
    return record


def bench_row(dataset: str | os.PathLike, method: str, preset: str, budget: Budget, config: BenchConfig,
              command: str = '') -> BenchRow:
    """Train (or with `config.reuse`, take the trained run of) one method, evaluate it, and return its row.

    `command` is the command line that reproduces the row (recorded as is). The evaluation
    report is written to the run directory's eval/.
    """
    budget.check_available()
    out = run_dir(config.runs_dir, method, preset, budget)
    trained = (out / CHECKPOINTS_DIR).exists()
    if trained and not config.reuse:
        raise FileExistsError(f'{out} already holds a training run: reuse it (evaluate it again) or remove it')
    label = row_label(method, preset, budget.name, budget.device)
    with torch_threads(budget.threads):
        training = TrainingRecord.read(out) if trained else \
            train_row(dataset, method, preset, budget, out, config.progress)
        checkpoint = last_checkpoint(out) / PRETRAINED_DIR
        policy = load_policy(checkpoint, device=budget.device)
        feature_map, map_source = resolve_feature_map(checkpoint, policy.config)
        with timed_predictions(policy) as latencies:
            report, traces = evaluate_with_traces(
                policy, config.seeds, name=label, rollout_config=RolloutConfig(time_limit_s=config.episode_time_limit_s),
                serving=ServingConfig(), feature_map=feature_map, progress=config.progress)
    p50, p99 = latencies.percentile_ms(50), latencies.percentile_ms(99)
    report.info.update({'checkpoint': str(checkpoint), 'feature_map': map_source, 'device': budget.device,
                        'latency_p50_ms': p50, 'latency_p99_ms': p99, 'predictions': len(latencies.seconds)})
    files = write_report(report, out / EVAL_DIR, title=f'dojo bench: {label}')
    write_failure_analysis(report, traces, out / EVAL_DIR)
    facts = DatasetFacts.of(dataset)
    return BenchRow(
        method=method, preset=preset, budget=budget.name, device=budget.device, hardware=budget.hardware(),
        dataset=os.path.normpath(dataset), dataset_episodes=facts.episodes, dataset_frames=facts.frames,
        dataset_bytes=facts.bytes, dataset_meta_sha256=facts.meta_sha256, train_wall_s=training.wall_s,
        train_steps=training.steps, train_time_limited=training.time_limited,
        train_time_limit_s=training.time_limit_s, step_cap=training.step_cap, batch_size=training.batch_size,
        seeds=format_seeds(config.seeds), episode_time_limit_s=config.episode_time_limit_s,
        latency_p50_ms=p50, latency_p99_ms=p99, predictions=len(latencies.seconds),
        parameters=sum(p.numel() for p in policy.parameters()), command=command,
        date=datetime.now(timezone.utc).isoformat(timespec='seconds'), run_dir=str(out),
        eval_report=str(files.json), episodes=[dataclasses.asdict(e) for e in report.episodes],
        inputs=policy_inputs(policy.config))
