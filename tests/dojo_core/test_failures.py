"""Failure analysis: where an episode stopped (approach, grasp, lift, place) from its trace, on synthetic
traces of each class and on real episodes (the scripted expert, one that never closes its gripper, an
untrained policy served for a few steps); the analysis files and the report's phases read back."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from dojo_core.evaluation import (CellFeatures, Diagnosis, EpisodeOutcome, EpisodeTrace, EvalReport, Phase,
                                  RolloutConfig, TaskGeometry, TraceRecorder, classify, evaluate_with_traces,
                                  write_failure_analysis, write_report)
from dojo_core.evaluation.failures import FAILURES_JSON, FAILURES_MD, plot_name
from dojo_core.evaluation.phases import (DROPPED, DROPPED_OUTSIDE, IN_BIN, NOT_TOUCHED, PUSHED, STILL_HELD,
                                         TOUCHED)
from dojo_core.expert import ExpertConfig, run_episode
from dojo_core.policies import dataset_features, make_policy
from dojo_core.policies.act import ACTConfig
from dojo_core.serving import ServingConfig
from dojo_core.sim import SimCell, SimConfig
from dojo_core.training.synthetic import SyntheticEpisodes

pytestmark = pytest.mark.usefixtures('torch_one_thread')

GEOMETRY = TaskGeometry.of(SimConfig())
HALF = SimConfig().cube_size / 2
START = np.array([0.2, 0.0, HALF])
BIN = np.array([*GEOMETRY.bin_centre, 0.0])
EXPERT = ExpertConfig()


def trace(cube, tool, touched, success: bool = False, seed: int = 0) -> EpisodeTrace:
    """A trace through the given waypoints, one sample each (a gripper closing halfway through)."""
    cube, tool = np.array(cube, dtype=float), np.array(tool, dtype=float)
    n = len(cube)
    return EpisodeTrace(seed, success, GEOMETRY, np.arange(n) / 30, cube, tool,
                        np.where(np.arange(n) < n // 2, 1.2, 0.25), np.array(touched, dtype=bool))


def carried(*tail_cube, touched_at_end: bool, seed: int = 0) -> EpisodeTrace:
    """Grasped at the start position, lifted, carried over the bin, then `tail_cube` positions."""
    lifted, over_bin = START + [0, 0, 0.05], BIN + [0, 0, 0.07]
    cube = [START, START, lifted, over_bin, *tail_cube]
    tool = [START + [0, 0, 0.1], START + [0, 0, 0.012], lifted, over_bin, *[c + [0, 0, 0.05] for c in tail_cube]]
    return trace(cube, tool, [False, True, True, True, *[touched_at_end] * len(tail_cube)], seed=seed)


SYNTHETIC = {
    'never reached': (trace([START] * 3, [START + [0, 0, 0.1]] * 3, [False] * 3), Phase.APPROACH, ''),
    'knocked on the way': (trace([START, START + [0.04, 0, 0], START + [0.06, 0, 0]],
                                 [START + [0, 0.1, 0.05], START + [0.04, 0.04, 0.02], START + [0, 0.1, 0.05]],
                                 [False, True, False]), Phase.APPROACH, PUSHED),
    'closed beside it': (trace([START] * 3, [START + [0, 0, 0.1], START + [0.01, 0, 0.012], START + [0, 0, 0.1]],
                               [False] * 3), Phase.GRASP, NOT_TOUCHED),
    'slipped': (trace([START, START, START + [0, 0, 0.005]],
                      [START + [0, 0, 0.1], START + [0, 0, 0.012], START + [0, 0, 0.08]],
                      [False, True, False]), Phase.GRASP, TOUCHED),
    'pushed away': (trace([START, START, START + [0.05, 0.02, 0]],
                          [START + [0, 0, 0.1], START + [0, 0, 0.012], START + [0.05, 0.02, 0.012]],
                          [False, True, True]), Phase.GRASP, PUSHED),
    'dropped on the way': (trace([START, START, START + [0, 0, 0.05], START + [-0.05, 0.08, 0]],
                                 [START + [0, 0, 0.1], START + [0, 0, 0.012], START + [0, 0, 0.062],
                                  START + [-0.05, 0.08, 0.07]], [False, True, True, False]), Phase.LIFT, DROPPED),
    'held, never over the bin': (trace([START, START, START + [0, 0, 0.05]],
                                       [START + [0, 0, 0.1], START + [0, 0, 0.012], START + [0, 0, 0.062]],
                                       [False, True, True]), Phase.LIFT, STILL_HELD),
    'dropped beside the bin': (carried(BIN + [0.08, 0, HALF], touched_at_end=False), Phase.PLACE, DROPPED_OUTSIDE),
    'not let go': (carried(BIN + [0, 0, 0.05], touched_at_end=True), Phase.PLACE, STILL_HELD),
    'in the bin at the time limit': (carried(BIN + [0.01, 0, 0.02], touched_at_end=False), Phase.PLACE, IN_BIN),
}


@pytest.mark.parametrize('case', list(SYNTHETIC))
def test_synthetic_traces_stop_where_they_were_made_to(case):
    episode, phase, detail = SYNTHETIC[case]
    diagnosis = classify(episode)
    assert (diagnosis.phase, diagnosis.detail) == (phase, detail)
    assert str(diagnosis) == (f'{phase.value} ({detail})' if detail else phase.value)
    assert classify(dataclasses.replace(episode, success=True)).phase is Phase.SUCCESS


def test_thresholds_follow_the_configured_cube_and_bin():
    small = TaskGeometry.of(SimConfig(cube_size=0.02, bin_position=[0.1, -0.15], bin_inner_size=0.06))
    assert small.lift_height == small.push_distance == 0.02 < GEOMETRY.lift_height
    assert small.grasp_distance < GEOMETRY.grasp_distance
    assert small.bin_centre == (0.1, -0.15) and small.bin_half == 0.03
    np.testing.assert_array_equal(small.over_bin(np.array([[0.12, -0.13], [0.14, -0.15]])), [True, False])


@pytest.fixture(scope='module')
def cell():
    c = SimCell(SimConfig())
    yield c
    c.close()


def expert_trace(cell: SimCell, seed: int, config: ExpertConfig) -> EpisodeTrace:
    recorder = TraceRecorder(TaskGeometry.of(cell.config, config))
    result = run_episode(cell, seed, config, on_step=recorder)
    return recorder.finish(cell, seed, result.success)


def test_the_expert_episode_succeeds_through_every_stage(cell):
    episode = expert_trace(cell, 2, EXPERT)
    assert episode.success and classify(episode).phase is Phase.SUCCESS
    g = episode.geometry
    assert len(episode.time) == round(episode.time[-1] * 30) + 1   # every control step and the end
    # the stages the classification looks for are all there, in order, when it is told the episode failed
    reached = np.argmax(episode.distance <= g.grasp_distance)
    lifted = np.argmax((episode.cube[:, 2] > g.lift_height) & episode.touched)
    over_bin = np.argmax((episode.cube[:, 2] > g.lift_height) & g.over_bin(episode.cube[:, :2]))
    assert 0 < reached < lifted < over_bin
    assert episode.gripper[reached] > 1.0 > 0.5 > episode.gripper[lifted]   # open at the cube, closed when lifting
    assert classify(dataclasses.replace(episode, success=False)) == Diagnosis(Phase.PLACE, IN_BIN)


def test_an_expert_that_never_closes_stops_in_grasp(cell):
    open_hand = dataclasses.replace(EXPERT, gripper_closed=EXPERT.gripper_open)
    episode = expert_trace(cell, 2, open_hand)
    assert not episode.success and classify(episode).phase is Phase.GRASP
    assert episode.cube[:, 2].max() < episode.geometry.lift_height


def test_traced_evaluation_reports_phases_and_writes_the_failure_analysis(tmp_path):
    """An untrained policy served for a few steps never reaches the cube; the expert places it."""
    data = SyntheticEpisodes(n_episodes=1, episode_length=10, image_size=(24, 32))
    inputs, outputs = dataset_features(data.features)
    policy = make_policy(ACTConfig.tiny(input_features=inputs, output_features=outputs, fps=30), data.stats).eval()
    sim_config = CellFeatures.from_policy(policy.config).sim_config()
    report, traces = evaluate_with_traces(policy, [4, 5], name='untrained', sim_config=sim_config,
                                          rollout_config=RolloutConfig(max_steps=8, latency_s=0.0),
                                          serving=ServingConfig(max_step_rad=0.02))
    assert [t.seed for t in traces] == [4, 5] and all(len(t.time) == 9 for t in traces)
    assert [(e.phase, e.phase_detail) for e in report.episodes] == [('approach', '')] * 2
    expert, expert_traces = evaluate_with_traces(EXPERT, [4], sim_config=sim_config)
    assert [(e.success, e.phase) for e in expert.episodes] == [(True, 'success')]

    files = write_failure_analysis(report, traces, tmp_path)
    assert list(files.plots) == [Phase.APPROACH] and files.plots[Phase.APPROACH] == tmp_path / plot_name(Phase.APPROACH)
    assert files.plots[Phase.APPROACH].read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert not (tmp_path / plot_name(Phase.GRASP)).exists()
    text = (tmp_path / FAILURES_MD).read_text()
    assert '| approach | 2 | 100.0 % | 4, 5 |' in text and '| success | 0 | 0.0 % | - |' in text
    assert f'![approach]({plot_name(Phase.APPROACH)})' in text
    analysis = json.loads((tmp_path / FAILURES_JSON).read_text())
    assert analysis['phases'] == {'approach': [4, 5], 'grasp': [], 'lift': [], 'place': [], 'success': []}
    assert analysis['details'] == {'approach': [4, 5]}
    assert [e['seed'] for e in analysis['per_episode']] == [4, 5]
    assert analysis['thresholds_m']['lift_height'] == pytest.approx(SimConfig().cube_size)
    with pytest.raises(ValueError, match='not those of the report'):
        write_failure_analysis(report, expert_traces, tmp_path)

    # the phases travel in report.json and show in report.md; reports written before them still read
    write_report([report, expert], tmp_path)
    saved = json.loads((tmp_path / 'report.json').read_text())['reports']
    assert [EvalReport.from_dict(r) for r in saved] == [report, expert]
    assert '| 4 | no | 0.27 s | 8 | approach |' in (tmp_path / 'report.md').read_text()
    old = {**saved[1], 'episodes': [{k: v for k, v in e.items() if not k.startswith('phase')}
                                    for e in saved[1]['episodes']]}
    assert EvalReport.from_dict(old).episodes == [EpisodeOutcome(4, True, expert.episodes[0].duration_s,
                                                                 expert.episodes[0].steps, 'cube placed')]
    assert EvalReport.from_dict(old).episodes[0].stopped_in == '-'
