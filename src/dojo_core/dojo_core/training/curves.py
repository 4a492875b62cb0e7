"""The loss curve of a run: one CSV row per step, and a PNG redrawn at every checkpoint.

The CSV is appended and flushed step by step so that a crashed run keeps its history; a resumed
run first drops the rows after its checkpoint, so the file always describes one continuous run.
"""
from __future__ import annotations

import csv
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


class LossLog:
    """Rows of {step, loss, <policy loss parts>, grad_norm, lr, ...} in `path` (CSV)."""

    def __init__(self, path: str | Path, keep_until_step: int = 0) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, float]] = []
        if keep_until_step > 0 and self.path.is_file():
            with self.path.open(newline='') as f:
                self.rows = [{k: float(v) for k, v in row.items() if v != ''} for row in csv.DictReader(f)]
            self.rows = [row for row in self.rows if row['step'] <= keep_until_step]
        self._columns: list[str] = list(self.rows[0]) if self.rows else []
        self._rewrite()

    def _rewrite(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open('w', newline='') as f:
            if self._columns:
                writer = csv.DictWriter(f, self._columns)
                writer.writeheader()
                writer.writerows(self.rows)

    def append(self, row: dict[str, float]) -> None:
        if not self._columns:
            self._columns = list(row)
            self._rewrite()
        self.rows.append(row)
        with self.path.open('a', newline='') as f:
            csv.DictWriter(f, self._columns, extrasaction='ignore').writerow(row)

    def plot(self, path: str | Path) -> Path:
        """Loss and its parts against step (log scale) as a PNG (Agg canvas: no display, no pyplot state)."""
        path = Path(path)
        figure = Figure(figsize=(8, 4.5), dpi=100)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        steps = [row['step'] for row in self.rows]
        for column in self._columns:
            if column == 'loss' or column.endswith('_loss'):
                axes.plot(steps, [row.get(column, float('nan')) for row in self.rows], label=column, linewidth=1)
        axes.set_xlabel('step')
        axes.set_ylabel('loss')
        if self.rows and all(row.get('loss', 0.0) > 0 for row in self.rows):
            axes.set_yscale('log')
        axes.grid(True, alpha=0.3)
        if self.rows:
            axes.legend()
        figure.tight_layout()
        figure.savefig(path)
        return path
