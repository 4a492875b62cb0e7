"""The failure analysis of an evaluation: where its episodes stopped, as a table, a JSON and one plot per class.

Files written by `write_failure_analysis(report, traces, out_dir)` next to the report:

    failures.md             episodes and seeds per phase (`phases.classify`), then per phase and detail
    failures.json           the same, plus per episode its phase, detail and a few telling numbers
    failures_<phase>.png    one per failure class that occurred: cube height, tool-to-cube distance,
                            the cube's offset from the bin centre (x or y, the larger) and the gripper
                            joint over time, every episode of the class overlaid, with the thresholds
                            the classification used
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dojo_core.evaluation.phases import FAILURES, Diagnosis, EpisodeTrace, Phase, classify
from dojo_core.evaluation.report import EvalReport

FAILURES_MD = 'failures.md'
FAILURES_JSON = 'failures.json'
#: Episodes named in a plot's legend; beyond that the lines speak for the class together.
LEGEND_EPISODES = 12


@dataclass(frozen=True)
class FailureFiles:
    markdown: Path
    json: Path
    plots: dict[Phase, Path]


def plot_name(phase: Phase) -> str:
    return f'failures_{phase.value}.png'


def write_failure_analysis(report: EvalReport, traces: Sequence[EpisodeTrace], out_dir: str | Path) -> FailureFiles:
    """failures.md, failures.json and a plot per failure class for `report`'s episodes (one trace each, same order)."""
    if [t.seed for t in traces] != [e.seed for e in report.episodes]:
        raise ValueError(f'the traces (seeds {[t.seed for t in traces]}) are not those of the report\'s episodes '
                         f'(seeds {[e.seed for e in report.episodes]})')
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    diagnoses = [classify(t) for t in traces]
    plots = {}
    for phase in FAILURES:
        members = [t for t, d in zip(traces, diagnoses) if d.phase is phase]
        if members:
            plots[phase] = plot_phase(members, phase, out / plot_name(phase), report.name)
    files = FailureFiles(out / FAILURES_MD, out / FAILURES_JSON, plots)
    files.markdown.write_text(markdown(report.name, traces, diagnoses, plots))
    files.json.write_text(json.dumps(to_dict(report.name, traces, diagnoses), indent=2) + '\n')
    return files


def by_phase(traces: Sequence[EpisodeTrace], diagnoses: Sequence[Diagnosis]) -> dict[Phase, list[int]]:
    """Seeds per phase, every phase listed in task order (success last)."""
    return {phase: [t.seed for t, d in zip(traces, diagnoses) if d.phase is phase] for phase in Phase}


def by_detail(traces: Sequence[EpisodeTrace], diagnoses: Sequence[Diagnosis]) -> dict[str, list[int]]:
    """Seeds per failure diagnosis ('grasp (pushed)', ...), in task order."""
    groups: dict[str, list[int]] = {}
    for t, d in sorted(zip(traces, diagnoses), key=lambda pair: list(Phase).index(pair[1].phase)):
        if d.phase is not Phase.SUCCESS:
            groups.setdefault(str(d), []).append(t.seed)
    return groups


def to_dict(name: str, traces: Sequence[EpisodeTrace], diagnoses: Sequence[Diagnosis]) -> dict[str, Any]:
    geometry = asdict(traces[0].geometry) if traces else {}
    return {
        'name': name, 'episodes': len(traces), 'thresholds_m': geometry,
        'phases': {phase.value: seeds for phase, seeds in by_phase(traces, diagnoses).items()},
        'details': by_detail(traces, diagnoses),
        'per_episode': [{'seed': t.seed, 'phase': d.phase.value, 'detail': d.detail,
                         'duration_s': float(t.time[-1]),
                         'min_tool_cube_distance_m': float(t.distance.min()),
                         'max_cube_height_m': float(t.cube[:, 2].max()),
                         'final_cube_position_m': t.cube[-1].round(4).tolist(),
                         'touched_at_end': bool(t.touched[-1])} for t, d in zip(traces, diagnoses)]}


def markdown(name: str, traces: Sequence[EpisodeTrace], diagnoses: Sequence[Diagnosis],
             plots: dict[Phase, Path]) -> str:
    n = len(traces)
    lines = [f'# Failure analysis: {name}', '', f'Where each of the {n} episodes stopped (see '
             '`dojo_core.evaluation.phases`).', '', '| stopped in | episodes | share | seeds |', '|---|---:|---:|---|']
    for phase, seeds in by_phase(traces, diagnoses).items():
        share = f'{100 * len(seeds) / n:.1f} %' if n else '-'
        lines.append(f'| {phase.value} | {len(seeds)} | {share} | {_listed(seeds)} |')
    details = by_detail(traces, diagnoses)
    if details:
        lines += ['', '| failure | episodes | seeds |', '|---|---:|---|']
        lines += [f'| {diagnosis} | {len(seeds)} | {_listed(seeds)} |' for diagnosis, seeds in details.items()]
    if traces:
        g = traces[0].geometry
        lines += ['', f'Thresholds: at the cube within {1e3 * g.grasp_distance:.1f} mm of the tool frame; lifted above '
                  f'{1e3 * g.lift_height:.1f} mm (cube centre); pushed beyond {1e3 * g.push_distance:.1f} mm; over the '
                  f'bin within {1e3 * g.bin_half:.1f} mm of its centre along x and y.']
    if plots:
        lines += ['', *[f'![{phase.value}]({path.name})' for phase, path in plots.items()]]
    return '\n'.join(lines) + '\n'


def plot_phase(traces: Sequence[EpisodeTrace], phase: Phase, path: str | Path, name: str = '') -> Path:
    """The episodes of one class over time: cube height, tool-to-cube distance, the cube's offset from the bin
    centre and the gripper joint, with the thresholds (Agg canvas: no display, no pyplot state)."""
    path = Path(path)
    figure = Figure(figsize=(8.0, 9.0), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.subplots(4, 1, sharex=True)
    g = traces[0].geometry
    panels = [(lambda t: t.cube[:, 2], 'cube height (m)', g.lift_height, 'lifted'),
              (lambda t: t.distance, 'tool to cube (m)', g.grasp_distance, 'at the cube'),
              (lambda t: t.bin_offset, 'cube off the bin centre (m)', g.bin_half, 'over the bin'),
              (lambda t: t.gripper, 'gripper joint (rad)', None, '')]
    for ax, (value, label, threshold, meaning) in zip(axes, panels):
        for t in traces:
            ax.plot(t.time, value(t), linewidth=1.0, alpha=0.8, label=f'seed {t.seed}')
        if threshold is not None:
            ax.axhline(threshold, color='k', linestyle='--', linewidth=0.8)
            ax.annotate(meaning, (0.995, threshold), xycoords=('axes fraction', 'data'), ha='right', va='bottom',
                        fontsize=8)
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel('sim time (s)')
    if len(traces) <= LEGEND_EPISODES:
        axes[0].legend(fontsize=7, ncol=4, loc='upper left')
    figure.suptitle(f'{name}: {len(traces)} episode(s) stopped in {phase.value}')
    figure.tight_layout()
    figure.savefig(path)
    return path


def _listed(seeds: Sequence[int]) -> str:
    return ', '.join(map(str, seeds)) or '-'
