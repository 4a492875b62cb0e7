"""Evaluation statistics and report files, independent of how the episodes were run.

A success rate from a few dozen episodes is a noisy number: 8/10 is compatible with anything from
about 49 % to 94 %. Every report therefore carries the 95 % Wilson score interval (well behaved at
0 and n successes and for small n, unlike the normal approximation) next to the rate, and the bar
chart draws it as the error bar. The ROS-free `evaluate` (SimCell) and the ROS `dojo eval` both
produce `EpisodeOutcome`s and hand them to this module, so their reports read the same.

Files written by `write_report(reports, out_dir)`:

    report.md     a summary table (one row per report) and the per-episode outcomes
    report.json   the same data, machine-readable (`EvalReport.from_dict` reads it back)
    success.png   success rate per report with the Wilson interval as error bars
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

CONFIDENCE = 0.95
REPORT_MD = 'report.md'
REPORT_JSON = 'report.json'
SUCCESS_PNG = 'success.png'


def wilson_interval(successes: int, trials: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion: (low, high) in [0, 1]."""
    if trials < 1 or not 0 <= successes <= trials:
        raise ValueError(f'need 0 <= successes <= trials and trials >= 1, got {successes}/{trials}')
    if not 0.0 < confidence < 1.0:
        raise ValueError(f'confidence must be in (0, 1), got {confidence}')
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / trials
    denominator = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z / denominator * math.sqrt(p * (1.0 - p) / trials + z * z / (4 * trials * trials))
    # at 0 or n successes one end is exactly 0 or 1; keep float error from moving it
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True)
class EpisodeOutcome:
    """One evaluated episode: `duration_s` is the sim (or wall) time until success, or until it stopped;
    `phase` and `phase_detail` where in the task it stopped (`phases.classify`; '' when not traced)."""

    seed: int
    success: bool
    duration_s: float
    steps: int = 0
    reason: str = ''
    phase: str = ''
    phase_detail: str = ''

    @property
    def stopped_in(self) -> str:
        """The phase with its detail, e.g. 'grasp (pushed)' ('-' when not traced)."""
        if not self.phase:
            return '-'
        return f'{self.phase} ({self.phase_detail})' if self.phase_detail else self.phase


@dataclass
class EvalReport:
    """The outcomes of one agent (policy checkpoint, expert, ...) over a set of seeds; `info` says what ran."""

    name: str
    episodes: list[EpisodeOutcome] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def trials(self) -> int:
        return len(self.episodes)

    @property
    def successes(self) -> int:
        return sum(e.success for e in self.episodes)

    @property
    def success_rate(self) -> float:
        return self.successes / self.trials if self.trials else math.nan

    def interval(self, confidence: float = CONFIDENCE) -> tuple[float, float]:
        """Wilson interval of the success rate ((nan, nan) without episodes)."""
        return wilson_interval(self.successes, self.trials, confidence) if self.trials else (math.nan, math.nan)

    @property
    def mean_time_to_success(self) -> float | None:
        """Mean duration of the successful episodes (None if there are none)."""
        times = [e.duration_s for e in self.episodes if e.success]
        return sum(times) / len(times) if times else None

    def phase_counts(self) -> dict[str, int]:
        """Episodes per phase they stopped in, in order of first appearance (empty when not traced)."""
        counts: dict[str, int] = {}
        for e in self.episodes:
            if e.phase:
                counts[e.phase] = counts.get(e.phase, 0) + 1
        return counts

    def summary(self) -> str:
        """One line, e.g. 'act-cpu: 8/10 = 80.0 % (95 % CI 49.0-94.3 %), mean time to success 7.41 s'."""
        if not self.trials:
            return f'{self.name}: no episodes'
        low, high = self.interval()
        mtts = self.mean_time_to_success
        time = f', mean time to success {mtts:.2f} s' if mtts is not None else ''
        return (f'{self.name}: {self.successes}/{self.trials} = {100 * self.success_rate:.1f} % '
                f'({100 * CONFIDENCE:.0f} % CI {100 * low:.1f}-{100 * high:.1f} %){time}')

    def to_dict(self) -> dict[str, Any]:
        low, high = self.interval()
        return {'name': self.name, 'trials': self.trials, 'successes': self.successes,
                'success_rate': _finite_or_none(self.success_rate), 'confidence': CONFIDENCE,
                'interval': [_finite_or_none(low), _finite_or_none(high)],
                'mean_time_to_success_s': self.mean_time_to_success, 'info': self.info,
                'episodes': [asdict(e) for e in self.episodes]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvalReport:
        """Read back `to_dict` (the derived numbers are recomputed from the episodes)."""
        return cls(str(data['name']), [EpisodeOutcome(**e) for e in data['episodes']], dict(data.get('info', {})))


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    json: Path
    png: Path


def with_holds(reason: str, holds: dict[str, int]) -> str:
    """An episode's end reason with the control steps it held, by reason, as both evaluation paths report them."""
    detail = ', '.join(f'{why} {count}' for why, count in sorted(holds.items()))
    return f'{reason}; {sum(holds.values())} holds' + (f' ({detail})' if detail else '')


def add_hold_totals(report: EvalReport, per_episode: Sequence[dict[str, int]]) -> None:
    """report.info gets the holds of all episodes, per episode and by reason."""
    totals: dict[str, int] = {}
    for holds in per_episode:
        for why, count in holds.items():
            totals[why] = totals.get(why, 0) + count
    report.info.update({'holds': sum(totals.values()), 'holds_per_episode': [sum(h.values()) for h in per_episode],
                        'holds_by_reason': totals})


def write_report(reports: EvalReport | Sequence[EvalReport], out_dir: str | Path,
                 title: str = 'Evaluation') -> ReportFiles:
    """Write report.md, report.json and success.png for one or several reports into `out_dir`."""
    reports = [reports] if isinstance(reports, EvalReport) else list(reports)
    if not reports:
        raise ValueError('write_report needs at least one report')
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = ReportFiles(out / REPORT_MD, out / REPORT_JSON, out / SUCCESS_PNG)
    files.markdown.write_text(markdown(reports, title))
    files.json.write_text(json.dumps({'title': title, 'reports': [r.to_dict() for r in reports]}, indent=2) + '\n')
    plot_success_rates(reports, files.png, title)
    return files


def markdown(reports: Sequence[EvalReport], title: str = 'Evaluation') -> str:
    """The report as Markdown: a summary table, then each report's episodes."""
    ci = f'{100 * CONFIDENCE:.0f} % CI (Wilson)'
    lines = [f'# {title}', '', f'| agent | episodes | successes | success rate | {ci} | mean time to success |',
             '|---|---:|---:|---:|---:|---:|']
    for r in reports:
        low, high = r.interval()
        mtts = r.mean_time_to_success
        lines.append(f'| {r.name} | {r.trials} | {r.successes} | {_percent(r.success_rate)} | '
                     f'{_percent(low)} - {_percent(high)} | {"-" if mtts is None else f"{mtts:.2f} s"} |')
    for r in reports:
        lines += ['', f'## {r.name}', '']
        lines += [f'- {key}: {value}' for key, value in r.info.items()]
        if r.info:
            lines.append('')
        phases = r.phase_counts()   # traced episodes get a column saying where they stopped
        if phases:
            lines += ['- stopped in: ' + ', '.join(f'{phase} {count}' for phase, count in phases.items()), '']
        lines += ['| seed | success | duration | steps | ' + ('stopped in | ' if phases else '') + 'reason |',
                  '|---:|:---:|---:|---:|' + ('---|' if phases else '') + '---|']
        lines += [f'| {e.seed} | {"yes" if e.success else "no"} | {e.duration_s:.2f} s | {e.steps} | '
                  + (f'{e.stopped_in} | ' if phases else '') + f'{e.reason.replace("|", "/")} |' for e in r.episodes]
    return '\n'.join(lines) + '\n'


def plot_success_rates(reports: Sequence[EvalReport], path: str | Path, title: str = 'Evaluation') -> Path:
    """Bar chart of success rates with Wilson-interval error bars (Agg canvas: no display, no pyplot state)."""
    path = Path(path)
    figure = Figure(figsize=(max(4.0, 1.2 * len(reports) + 2.0), 4.0), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    rates = [0.0 if r.trials == 0 else r.success_rate for r in reports]
    intervals = [r.interval() if r.trials else (0.0, 0.0) for r in reports]
    errors = [[rate - low for rate, (low, _) in zip(rates, intervals)],
              [high - rate for rate, (_, high) in zip(rates, intervals)]]
    positions = range(len(reports))
    axes.bar(positions, rates, yerr=errors, capsize=6, color='tab:blue', alpha=0.8)
    axes.set_xticks(list(positions), [f'{r.name}\n{r.successes}/{r.trials}' for r in reports],
                    rotation=15 if len(reports) > 3 else 0)
    axes.set_ylim(0.0, 1.05)
    axes.set_ylabel(f'success rate ({100 * CONFIDENCE:.0f} % Wilson interval)')
    axes.set_title(title)
    axes.grid(True, axis='y', alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    return path


def _percent(x: float) -> str:
    return '-' if math.isnan(x) else f'{100 * x:.1f} %'


def _finite_or_none(x: float) -> float | None:
    return None if math.isnan(x) else x
