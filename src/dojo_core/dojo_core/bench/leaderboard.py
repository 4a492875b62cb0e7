"""The leaderboard files: one row per (method, preset, budget, dataset), merged across bench runs.

A bench run adds or replaces its own rows and keeps every other row of the existing
leaderboard.json, so a new method, a GPU row or a rerun never needs the others to be run again.
A row carries its per-seed outcomes, so the success rate, the Wilson interval and the chart are
recomputed from the episodes themselves (`BenchRow.report`), never copied.

Files written by `update_leaderboard(rows, out_dir)`:

    leaderboard.md    the table, then per row the command that reproduces it and where its run lies
    leaderboard.json  the rows, machine-readable (`read_rows` reads them back)
    leaderboard.png   success rate per row with the 95 % Wilson interval as error bars
"""
from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dojo_core.evaluation import EpisodeOutcome, EvalReport, ReportFiles, plot_success_rates
from dojo_core.evaluation.report import CONFIDENCE, _percent
from dojo_core.policies import PolicyConfig
from dojo_core.policies.features import IMAGE_PREFIX, FeatureType

LEADERBOARD_MD = 'leaderboard.md'
LEADERBOARD_JSON = 'leaderboard.json'
LEADERBOARD_PNG = 'leaderboard.png'
TITLE = 'dojo bench leaderboard'


def policy_inputs(config: PolicyConfig) -> str:
    """What a policy observes, in words: vector inputs by their short name and size, cameras by name and size
    ('state (6), environment_state (7)'; 'state (6), front 640x480, wrist 320x240'), so that a state-only
    row reads as one next to a vision row on the same task."""
    parts = []
    for name, feature in config.input_features.items():
        short = name.removeprefix(IMAGE_PREFIX).removeprefix('observation.')
        if feature.type is FeatureType.VISUAL:
            parts.append(f'{short} {feature.shape[2]}x{feature.shape[1]}')
        else:
            parts.append(f'{short} ({", ".join(str(n) for n in feature.shape)})')
    return ', '.join(parts)


def row_label(method: str, preset: str, budget: str, device: str) -> str:
    """'act/cpu (cpu-2core)'; a row trained and served on a GPU says so."""
    gpu = ', GPU' if device.startswith('cuda') else ''
    return f'{method}/{preset} ({budget}{gpu})'


@dataclass
class BenchRow:
    """One method trained and evaluated under one budget on one dataset, and how to reproduce it."""

    method: str
    preset: str
    budget: str
    device: str                     # torch device of training and serving
    hardware: str                   # that device in words (CPU model and threads, or the GPU)
    dataset: str                    # the dataset path as given to the bench
    dataset_episodes: int
    dataset_frames: int
    dataset_bytes: int
    dataset_meta_sha256: str        # of the dataset's meta/ files (episodes, stats, info)
    train_wall_s: float             # the whole training call: data setup, frame cache, loop, checkpoints
    train_steps: int
    train_time_limited: bool        # the wall-clock budget ended training before the step cap
    train_time_limit_s: float
    step_cap: int
    batch_size: int
    seeds: str                      # held-out evaluation seeds, e.g. '1001:1051'
    episode_time_limit_s: float
    latency_p50_ms: float | None    # chunk predictions of the evaluation, on `device`
    latency_p99_ms: float | None
    predictions: int
    parameters: int
    command: str
    date: str
    run_dir: str
    eval_report: str
    episodes: list[dict[str, Any]] = field(default_factory=list)   # EpisodeOutcome fields, one per seed
    inputs: str = ''                # what the policy observes (policy_inputs), e.g. 'state, front 640x480'

    @property
    def key(self) -> tuple[str, str, str, str]:
        return self.method, self.preset, self.budget, self.dataset

    @property
    def label(self) -> str:
        return row_label(self.method, self.preset, self.budget, self.device)

    def report(self) -> EvalReport:
        """The evaluation as an EvalReport (successes, Wilson interval, mean time to success)."""
        return EvalReport(self.label, [EpisodeOutcome(**e) for e in self.episodes])

    def summary(self) -> str:
        """The evaluation's summary line, then the training and the latency."""
        return (f'{self.report().summary()}; {self.train_steps} steps in {self.train_wall_s:.0f} s; latency p50 '
                f'{_ms(self.latency_p50_ms)}, p99 {_ms(self.latency_p99_ms)}')

    def to_dict(self) -> dict[str, Any]:
        """The row with the derived success numbers alongside (for readers of the JSON; recomputed on read)."""
        derived = self.report().to_dict()
        low, high = derived['interval']
        return {**asdict(self), **{k: derived[k] for k in ('successes', 'trials', 'success_rate', 'confidence')},
                'wilson_low': low, 'wilson_high': high, 'mean_time_to_success_s': derived['mean_time_to_success_s']}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchRow:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


def read_rows(path: str | Path) -> list[BenchRow]:
    """The rows of a leaderboard.json ([] when there is none yet)."""
    path = Path(path)
    if not path.is_file():
        return []
    return [BenchRow.from_dict(row) for row in json.loads(path.read_text())['rows']]


def merge_rows(existing: Iterable[BenchRow], new: Iterable[BenchRow]) -> list[BenchRow]:
    """`existing` with each row of `new` replacing the one of the same key (or added), best first per dataset."""
    rows = {row.key: row for row in existing}
    rows.update((row.key, row) for row in new)
    return sorted(rows.values(), key=lambda r: (r.dataset, -_rate(r), r.method, r.preset, r.budget))


def update_leaderboard(new: Sequence[BenchRow], out_dir: str | Path) -> tuple[list[BenchRow], ReportFiles]:
    """Merge `new` into the leaderboard in `out_dir` and rewrite its three files; returns all rows."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(out / LEADERBOARD_MD, out / LEADERBOARD_JSON, out / LEADERBOARD_PNG)
    rows = merge_rows(read_rows(files.json), new)
    files.json.write_text(json.dumps({'title': TITLE, 'rows': [r.to_dict() for r in rows]}, indent=2) + '\n')
    files.markdown.write_text(markdown(rows))
    plot_success_rates([r.report() for r in rows], files.png, TITLE)
    return rows, files


def markdown(rows: Sequence[BenchRow]) -> str:
    """The leaderboard table, then each row's reproducing command and run."""
    ci = f'{100 * CONFIDENCE:.0f} % CI (Wilson)'
    lines = [f'# {TITLE}', '',
             'Each method trained on the same dataset under the same wall-clock budget (the preset\'s steps as a '
             'cap), then served by the serving controller (policy_node\'s defaults) on the same held-out seeds. '
             'Latency: the chunk predictions of that evaluation, on the row\'s device.', '',
             f'| method | preset | budget | hardware | dataset | inputs | training | steps (batch) | success | {ci} | '
             'mean time to success | failures stopped in | latency p50 / p99 | parameters |',
             '|---|---|---|---|---|---|---:|---:|---:|---:|---:|---|---:|---:|']
    for r in rows:
        report = r.report()
        low, high = report.interval()
        mtts = report.mean_time_to_success
        limited = ', time limit' if r.train_time_limited else ''
        lines.append(
            f'| {r.method} | {r.preset} | {r.budget} | {r.hardware} | {r.dataset} ({r.dataset_episodes} episodes) | '
            f'{r.inputs or "-"} | {_minutes(r.train_wall_s)}{limited} | {r.train_steps} ({r.batch_size}) | '
            f'{report.successes}/{report.trials} = {_percent(report.success_rate)} | '
            f'{_percent(low)} - {_percent(high)} | {"-" if mtts is None else f"{mtts:.2f} s"} | {_failures(report)} | '
            f'{_ms(r.latency_p50_ms)} / {_ms(r.latency_p99_ms)} | {r.parameters / 1e6:.2f} M |')
    for r in rows:
        lines += ['', f'## {r.label}', '', '```', r.command, '```', '',
                  f'- date: {r.date}',
                  f'- held-out seeds: {r.seeds}, {r.episode_time_limit_s:g} s per episode',
                  f'- training: {r.train_steps} of at most {r.step_cap} steps in {r.train_wall_s:.0f} s '
                  f'(loop limit {r.train_time_limit_s:.0f} s)',
                  f'- dataset: {r.dataset_frames} frames, {r.dataset_bytes / 1e6:.1f} MB, meta sha256 '
                  f'{r.dataset_meta_sha256[:12]}',
                  f'- latency: {r.predictions} chunk predictions',
                  f'- run: {r.run_dir}', f'- evaluation report: {r.eval_report}']
    return '\n'.join(lines) + '\n'


def _failures(report: EvalReport) -> str:
    """Failed episodes per phase where they stopped (the failure analysis), e.g. 'grasp 3, place 1'."""
    phases = Counter(e.phase or 'unknown' for e in report.episodes if not e.success)
    return ', '.join(f'{phase} {n}' for phase, n in phases.most_common()) or '-'


def _rate(row: BenchRow) -> float:
    rate = row.report().success_rate
    return -1.0 if math.isnan(rate) else rate


def _minutes(seconds: float) -> str:
    return f'{seconds / 60:.1f} min' if seconds >= 60 else f'{seconds:.0f} s'


def _ms(x: float | None) -> str:
    return '-' if x is None else f'{x:.1f} ms'
