"""`dojo demo`: the whole learning loop on the sim cell, from expert demonstrations to two success rates.

Four stages, each the `dojo` command in a subprocess (its output streams to the terminal after a
stage banner and is appended to `<out>/logs/<stage>.log`):

    record   `dojo expert --ros-free --record`: the scripted expert plays --episodes pick-and-place
             episodes on the sim cell, written as a LeRobot v3 dataset (<out>/dataset; an episode
             whose cube was not placed is discarded), as fast as the machine goes. With
             --record-through-ros the same cube seeds are played live through sim_node while
             recorder_node writes them, in sim real time (about 3x slower). Either way the
             demonstrations place the cube from seeds 1..N.
    train    `dojo train`: ACT with the cpu preset (its recipe: --steps steps of batch 8, warm-up
             and cosine decay) into <out>/act: checkpoints, loss.csv, loss.png.
    eval     `dojo eval`: the last checkpoint through policy_node and, for reference, the expert node,
             each on --eval-episodes held-out cube seeds 1001.. (sim seed 1000), in sim real time as a
             robot would run them (<out>/eval/act, <out>/eval/expert).
    report   <out>/report.md, report.json and success.png: both success rates with their 95 % Wilson
             intervals, the episodes, and how the run was made (demonstrations, training steps, time,
             loss, the machine, the wall time of every stage).

A stage whose result is already there is skipped, so running the demo again (after Ctrl-C, a crash,
or with more --steps, which continues training from the last checkpoint) goes on where it stopped;
delete a stage's folder to redo it. A failing stage stops the demo with its exit code.

How long it takes on the 2-core dev machine: the README gives the measured stage times of a full
run. Training dominates; the evaluations run in sim real time (a policy that fails uses all of
--time-limit). `--quick` (3 demonstrations, 20 training steps, 2 evaluation episodes of at most 15 s
each, in outputs/quick) checks the mechanics in a few minutes; its policy has learned nothing.
(15 s, not less: the expert needs about 8 s of sim time per episode.)
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from dojo_core.dataset.format import INFO_PATH
from dojo_core.evaluation.report import REPORT_JSON, REPORT_MD, EvalReport, write_report
from dojo_core.policies.act import ACTConfig
from dojo_core.sim.protocol import TIME_LIMIT_S
from dojo_core.training import CHECKPOINTS_DIR, LAST, LOSS_CSV, LOSS_PNG, PRETRAINED_DIR
from dojo_core.training.checkpoint import TRAIN_CONFIG

from dojo_eval.evaluate import EXPERT

#: `dojo expert --seed`: the demonstrations place the cube from seeds DEMO_SEED + 1 .. DEMO_SEED + episodes.
DEMO_SEED = 0
#: `dojo eval --seed`: the evaluation episodes place it from EVAL_SEED + 1 .., never a demonstration's.
EVAL_SEED = 1000
#: Wall seconds `dojo expert` may take per demonstration (about 17 s with both cameras rendering on 2 cores).
EXPERT_WALL_S_PER_EPISODE = 90
BATCH_SIZE = 8
#: Training rows whose mean loss the report gives next to the (noisy) loss of the last batch.
LOSS_WINDOW = 100
STAGES = ('record', 'train', 'eval', 'report')
HOW_RECORDED = {True: 'live through sim_node and recorder_node',
                False: 'on the sim cell without ROS (dojo expert --ros-free)'}
TITLE = 'dojo demo: ACT learned from expert demonstrations vs the expert'


@dataclass(frozen=True)
class Budget:
    """How much the demo does: the full run, or `--quick` (mechanics only)."""

    episodes: int
    eval_episodes: int
    steps: int
    time_limit: float


FULL = Budget(episodes=200, eval_episodes=20, steps=ACTConfig.cpu().training_steps, time_limit=TIME_LIMIT_S)
QUICK = Budget(episodes=3, eval_episodes=2, steps=20, time_limit=15.0)


class StageFailed(RuntimeError):
    def __init__(self, stage: str, code: int, detail: str) -> None:
        super().__init__(f'stage {stage} failed (exit code {code}): {detail}')
        self.code = code


@dataclass
class StageTime:
    stage: str
    status: str   # ran, continued, skipped
    wall_s: float


@dataclass(frozen=True)
class Agent:
    """One `dojo eval` run: its folder under <out>/eval, its name in the report, its --policy."""

    key: str
    name: str
    policy: str


def dataset_info(root: Path) -> dict[str, Any] | None:
    """The dataset's meta/info.json, or None when nothing was recorded there yet."""
    path = root / INFO_PATH
    return json.loads(path.read_text()) if path.is_file() else None


def trained_step(run: Path) -> int | None:
    """The step of the run's last checkpoint (its folder is named after it), or None before the first."""
    last = run / CHECKPOINTS_DIR / LAST
    return int(last.resolve().name) if last.exists() else None


def finished_eval(out: Path, name: str, episodes: int, time_limit: float) -> EvalReport | None:
    """The report `dojo eval` left in `out` if it is the evaluation asked for now, else None."""
    path = out / REPORT_JSON
    if not path.is_file():
        return None
    report = EvalReport.from_dict(json.loads(path.read_text())['reports'][0])
    same = (report.name == name and report.trials == episodes and report.info.get('seed') == EVAL_SEED
            and report.info.get('time_limit_s') == time_limit)
    return report if same else None


def duration(seconds: float) -> str:
    """12.3 s, 4 min 05 s, 2 h 03 min."""
    if seconds < 60:
        return f'{seconds:.1f} s'
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f'{minutes} min {secs:02d} s'
    return f'{minutes // 60} h {minutes % 60:02d} min'


def torch_device() -> str:
    """What `--device auto` trains and infers on here."""
    if torch.cuda.is_available():
        return f'cuda ({torch.cuda.get_device_name()})'
    return f'cpu ({torch.get_num_threads()} torch threads)'


@dataclass
class Demo:
    """The stages of one `dojo demo` invocation over the folder `root`."""

    root: Path
    budget: Budget
    num_workers: int
    record_through_ros: bool = False
    times: list[StageTime] = field(default_factory=list)

    @property
    def dataset(self) -> Path:
        return self.root / 'dataset'

    @property
    def record_marker(self) -> Path:
        """Written when the record stage has played every episode asked for (the dataset alone cannot
        tell a finished recording with discarded failures from an interrupted one)."""
        return self.root / 'record.json'

    @property
    def act(self) -> Path:
        return self.root / 'act'

    @property
    def logs(self) -> Path:
        return self.root / 'logs'

    # -- running and skipping stages ------------------------------------------------------------
    def _banner(self, stage: str, what: str) -> None:
        number = STAGES.index(stage.split()[0]) + 1
        print(f'\n=== dojo demo [{number}/{len(STAGES)}] {stage}: {what}', flush=True)

    def _skip(self, stage: str, what: str, why: str) -> None:
        self._banner(stage, what)
        print(f'skipped: {why}', flush=True)
        self.times.append(StageTime(stage, 'skipped', 0.0))

    def _run(self, stage: str, what: str, argv: list[str], status: str = 'ran') -> None:
        """Run `dojo <argv>`, streaming its output to the terminal and <out>/logs/<stage>.log."""
        self._banner(stage, what)
        log = self.logs / f'{stage.replace(" ", "_")}.log'
        log.parent.mkdir(parents=True, exist_ok=True)
        print(f'$ dojo {shlex.join(argv)}', flush=True)
        started = time.monotonic()
        # unbuffered children, so that their output comes through the pipe as it is written
        env = {**os.environ, 'PYTHONUNBUFFERED': '1'}
        with log.open('ab') as copy, subprocess.Popen([sys.executable, '-m', 'dojo_core.cli', *argv], env=env,
                                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as process:
            copy.write(f'\n$ dojo {shlex.join(argv)}\n'.encode())
            for chunk in iter(lambda: process.stdout.read1(1 << 16), b''):
                sys.stdout.buffer.write(chunk)
                sys.stdout.buffer.flush()
                copy.write(chunk)
        self.times.append(StageTime(stage, status, time.monotonic() - started))
        if process.returncode != 0:
            raise StageFailed(stage, process.returncode, f'its output is above and in {log}')

    # -- the stages -----------------------------------------------------------------------------
    def record(self) -> None:
        episodes = self.budget.episodes
        what = f'{episodes} expert demonstrations into {self.dataset}'
        info = dataset_info(self.dataset)
        have = info['total_episodes'] if info else 0
        done = json.loads(self.record_marker.read_text()) if self.record_marker.is_file() else None
        if done is not None and done['episodes'] >= episodes:
            fewer = f' ({done["episodes"]} played; failed episodes are discarded)' if have < done['episodes'] else ''
            self._skip('record', what, f'{self.dataset} holds {have} demonstrations{fewer}; delete it (and '
                                       f'{self.record_marker.name}) to record again')
            return
        # An interrupted recording continues: the dataset keeps its episodes and the expert plays the
        # rest, from the cube seed after the last one recorded (exact unless an episode had failed).
        todo, seed = episodes - have, DEMO_SEED + have
        if have:
            what = f'{todo} more expert demonstrations into {self.dataset} (it holds {have})'
        argv = ['expert', '--episodes', str(todo), '--seed', str(seed), '--record', str(self.dataset)]
        if self.record_through_ros:
            argv += ['--out', str(self.logs / 'record'), '--timeout', str(todo * EXPERT_WALL_S_PER_EPISODE)]
        else:
            what += ' (without ROS)'
            argv.append('--ros-free')
        self._run('record', what, argv)
        info = dataset_info(self.dataset)
        if not info or info['total_episodes'] < 1:
            raise StageFailed('record', 1, f'no episode was recorded in {self.dataset}; see the node logs in '
                                           f'{self.logs / "record"}')
        self.record_marker.write_text(json.dumps({'episodes': episodes, 'seed': DEMO_SEED,
                                                  'through_ros': self.record_through_ros}) + '\n')

    def train(self) -> None:
        steps = self.budget.steps
        what = f'ACT (cpu preset) for {steps} steps into {self.act}'
        done = trained_step(self.act)
        if done is not None and done >= steps:
            self._skip('train', what, f'{self.act} is trained to step {done}; delete it to train again')
            return
        argv = ['train', '--out', str(self.act), '--steps', str(steps)]
        if done is not None:
            self._run('train', f'continue {self.act} from step {done} to {steps}', argv + ['--resume'], 'continued')
            return
        self._run('train', what, argv + [
            '--dataset', str(self.dataset), '--policy', 'act', '--preset', 'cpu', '--batch-size', str(BATCH_SIZE),
            '--num-workers', str(self.num_workers), '--no-progress', '--log-every', '100',
            '--save-every', str(max(steps // 4, 1))])

    def evaluate(self) -> list[EvalReport]:
        checkpoint = self.act / CHECKPOINTS_DIR / LAST / PRETRAINED_DIR
        agents = [Agent('act', f'ACT (cpu preset, {trained_step(self.act)} steps)', str(checkpoint)),
                  Agent('expert', 'scripted expert', EXPERT)]
        episodes, time_limit = self.budget.eval_episodes, self.budget.time_limit
        reports = []
        for agent in agents:
            out = self.root / 'eval' / agent.key
            stage = f'eval {agent.key}'
            what = f'{agent.name} on {episodes} held-out cube seeds ({time_limit:g} s each) into {out}'
            report = finished_eval(out, agent.name, episodes, time_limit)
            if report is not None:
                self._skip(stage, what, f'{out / REPORT_JSON} already holds this evaluation; delete it to run it '
                                        'again')
            else:
                self._run(stage, what, ['eval', '--policy', agent.policy, '--episodes', str(episodes), '--seed',
                                        str(EVAL_SEED), '--time-limit', f'{time_limit:g}', '--out', str(out),
                                        '--name', agent.name])
                report = finished_eval(out, agent.name, episodes, time_limit)
                if report is None:
                    raise StageFailed(stage, 1, f'dojo eval wrote no {REPORT_JSON} in {out}')
            reports.append(report)
        return reports

    def report(self, reports: list[EvalReport]) -> Path:
        """<out>/report.md (+ .json, .png): the eval reports of both agents and a section on the run."""
        self._banner('report', f'both agents and the run into {self.root / REPORT_MD}')
        run = self.run_info()
        files = write_report(reports, self.root, title=TITLE)
        head, sep, rest = files.markdown.read_text().partition('\n## ')   # the run goes after the summary table
        files.markdown.write_text(head + self.run_markdown(run) + sep + rest)
        data = json.loads(files.json.read_text())
        files.json.write_text(json.dumps({**data, 'run': run}, indent=2) + '\n')
        print(f'report: {files.markdown}, {files.json}, {files.png}', flush=True)
        return files.markdown

    # -- what the report says about the run ----------------------------------------------------
    def run_info(self) -> dict[str, Any]:
        info = dataset_info(self.dataset) or {}
        checkpoint = self.act / CHECKPOINTS_DIR / LAST
        train_config = json.loads((checkpoint / TRAIN_CONFIG).read_text())
        with (self.act / LOSS_CSV).open(newline='') as f:
            rows = list(csv.DictReader(f))
        recent = [float(row['loss']) for row in rows[-LOSS_WINDOW:]]
        episodes = self.budget.eval_episodes
        marker = json.loads(self.record_marker.read_text()) if self.record_marker.is_file() else {}
        return {
            'demonstrations': {'dataset': self.dataset.name, 'episodes': info.get('total_episodes'),
                               'through_ros': marker.get('through_ros', True),
                               'frames': info.get('total_frames'), 'fps': info.get('fps'),
                               'cube_seeds': f'{DEMO_SEED + 1}-{DEMO_SEED + self.budget.episodes}'},
            'training': {'policy': 'act', 'preset': 'cpu', 'steps': trained_step(self.act),
                         'batch_size': train_config['batch_size'], 'num_workers': train_config['num_workers'],
                         'wall_s': round(float(rows[-1]['elapsed_s']), 1) if rows else None,
                         'final_loss': float(rows[-1]['loss']) if rows else None,
                         'recent_loss': {'steps': len(recent), 'mean': sum(recent) / len(recent)} if recent else None,
                         'loss_curve': f'{self.act.name}/{LOSS_PNG}'},
            'evaluation': {'episodes_per_agent': episodes, 'cube_seeds': f'{EVAL_SEED + 1}-{EVAL_SEED + episodes}',
                           'time_limit_s': self.budget.time_limit},
            'stages': [{'stage': t.stage, 'status': t.status, 'wall_s': round(t.wall_s, 1)} for t in self.times],
            'machine': {'cpu_count': os.cpu_count(), 'torch_device': torch_device()},
        }

    @staticmethod
    def run_markdown(run: dict[str, Any]) -> str:
        demos, training, evaluation = run['demonstrations'], run['training'], run['evaluation']
        recent = training['recent_loss']
        mean = f' (mean of the last {recent["steps"]} steps {recent["mean"]:.4f})' if recent else ''
        final = 'n/a' if training['final_loss'] is None else f'{training["final_loss"]:.4f}'
        wall = 'n/a' if training['wall_s'] is None else duration(training['wall_s'])
        lines = [
            '', '## The run', '',
            f'- demonstrations: {demos["episodes"]} episodes, {demos["frames"]} frames at {demos["fps"]} fps, '
            f'recorded by the scripted expert {HOW_RECORDED[demos["through_ros"]]} (`{demos["dataset"]}/`); '
            f'cube seeds {demos["cube_seeds"]} (failed episodes discarded)',
            f'- held out: the evaluation places the cube from seeds {evaluation["cube_seeds"]}, none of them a '
            'demonstration\'s',
            f'- training: ACT, cpu preset, {training["steps"]} steps of batch {training["batch_size"]} '
            f'({training["num_workers"]} data workers), {wall} of training, final loss {final}{mean}; '
            f'loss curve: [{training["loss_curve"]}]({training["loss_curve"]})',
            f'- evaluation: {evaluation["episodes_per_agent"]} episodes per agent, at most '
            f'{evaluation["time_limit_s"]:g} s of sim time each, in sim real time (ACT through policy_node, the '
            'expert through its node)',
            f'- machine: {run["machine"]["cpu_count"]} CPU cores, torch on {run["machine"]["torch_device"]}',
            '', '| stage (this invocation) | status | wall time |', '|---|---|---:|',
        ]
        lines += [f'| {s["stage"]} | {s["status"]} | {duration(s["wall_s"]) if s["status"] != "skipped" else "-"} |'
                  for s in run['stages']]
        return '\n'.join(lines) + '\n'


class DemoVerb:
    help = ('The learning loop on the sim cell: record expert demonstrations, train ACT, evaluate it and the '
            'expert on held-out seeds, write a report.')

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        def budget_option(name: str, kind: type, text: str) -> None:
            attribute = name.replace('-', '_')
            parser.add_argument(f'--{name}', type=kind, default=None, help=f'{text} (default: '
                                f'{getattr(FULL, attribute):g}, with --quick {getattr(QUICK, attribute):g})')

        parser.add_argument('--out', default=None,
                            help='folder of the whole run: dataset/, act/, eval/, logs/, report.md '
                                 '(default: outputs, with --quick outputs/quick)')
        budget_option('episodes', int, 'expert demonstrations to record')
        budget_option('eval-episodes', int, 'evaluation episodes per agent')
        budget_option('steps', int, 'training steps')
        budget_option('time-limit', float, 'sim seconds per evaluation episode')
        parser.add_argument('--num-workers', type=int, default=2, help='training data workers (default: 2)')
        parser.add_argument('--record-through-ros', action='store_true',
                            help='record the demonstrations live through sim_node and recorder_node in sim real '
                                 'time instead of on the sim cell in this process (same cube seeds, about 3x slower)')
        parser.add_argument('--quick', action='store_true',
                            help='mechanics only: a tiny budget (options given explicitly still apply)')

    def main(self, args: argparse.Namespace) -> int:
        given = {f.name: getattr(args, f.name) for f in dataclasses.fields(Budget) if getattr(args, f.name) is not None}
        budget = dataclasses.replace(QUICK if args.quick else FULL, **given)
        if min(budget.episodes, budget.eval_episodes, budget.steps) < 1 or budget.time_limit <= 0 \
                or args.num_workers < 0:
            print('dojo demo: --episodes, --eval-episodes and --steps must be at least 1, --time-limit positive and '
                  '--num-workers not negative')
            return 2
        if DEMO_SEED + budget.episodes > EVAL_SEED:
            print(f'dojo demo: at most {EVAL_SEED - DEMO_SEED} demonstrations, so that the evaluation seeds '
                  f'{EVAL_SEED + 1}.. stay held out')
            return 2
        demo = Demo(Path(args.out or ('outputs/quick' if args.quick else 'outputs')), budget, args.num_workers,
                    args.record_through_ros)
        print(f'dojo demo: {budget.episodes} demonstrations, {budget.steps} training steps, {budget.eval_episodes} '
              f'evaluation episodes per agent; everything in {demo.root}', flush=True)
        try:
            demo.record()
            demo.train()
            reports = demo.evaluate()
            report = demo.report(reports)
        except StageFailed as exc:
            print(f'\ndojo demo: {exc}; later stages were not run')
            return exc.code
        except KeyboardInterrupt:
            print(f'\ndojo demo: interrupted; run it again to continue where it stopped ({demo.root})')
            return 130
        print(f'\ndojo demo: success rates on {budget.eval_episodes} held-out cube seeds '
              f'({EVAL_SEED + 1}-{EVAL_SEED + budget.eval_episodes}); report {report}')
        for r in reports:
            print(r.summary())
        return 0
