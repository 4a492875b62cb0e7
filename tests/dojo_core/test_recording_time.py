"""dojo_core.recording and time: a stop ends at the stop time, a clock that jumps back ends the episode.

Real rclpy JointState messages through EpisodeRecorder / RecordingSession into a real dataset,
read back with pyarrow.
"""
from __future__ import annotations

import math

import pyarrow.parquet as pq
from builtin_interfaces.msg import Time

from dojo_core.dataset import validate
from dojo_core.recording import DatasetSettings, EpisodeRecorder, RecordingSession
from dojo_core.sync import FeatureMap
from dojo_ros.joint_state import vector_to_joint_state

FPS = 30
S = 1_000_000_000
T0 = 1_700_000_000 * S
JOINTS = ['a', 'b']


def features() -> FeatureMap:
    joints = {'type': 'sensor_msgs/msg/JointState', 'joints': JOINTS}
    return FeatureMap.from_dict({'fps': FPS, 'latency': 0.05, 'task_topic': None, 'features': {
        'observation.state': {'topic': 'joint_states', **joints, 'max_age': 0.1},
        'action': {'topic': 'joint_commands', **joints, 'max_age': math.inf}}})


def tick(k: float, t0: int = T0) -> int:
    return t0 + round(k * S / FPS)


def state(stamp_ns: int, value: float):
    return vector_to_joint_state(JOINTS, [value, -value], stamp=Time(sec=stamp_ns // S, nanosec=stamp_ns % S))


def push_ticks(target, ticks, t0: int = T0) -> None:
    """State and command stamped on each tick, received 1 ms later, polled with that clock."""
    for k in ticks:
        now = tick(k, t0) + 1_000_000
        for topic in ('joint_states', 'joint_commands'):
            assert target.push(topic, state(tick(k, t0), k), now) == []
        target.poll(now)


def test_a_stop_never_ends_past_the_stop_time():
    """A message stamped after the stop time (within the future tolerance, so accepted before the
    stop was asked) must not stretch the episode to its stamp."""
    recorder = EpisodeRecorder(features(), 'task')
    push_ticks(recorder, range(31))
    assert recorder.push('joint_states', state(tick(30) + S * 9 // 10, 99), tick(30)) == []
    recorder.stop_at(tick(30))
    recorder.finish()
    report = recorder.report()
    assert report.ticks == 31 and report.dropped == 0, report


def test_a_clock_that_jumps_back_ends_the_episode_at_the_jump_and_saves_it(tmp_path):
    root = tmp_path / 'ds'
    session = RecordingSession(DatasetSettings(root=root, repo_id='test/clock'), features())
    try:
        session.start_episode('before the restart', T0)
        push_ticks(session, range(30))
        assert session.watch_clock(tick(30)) is None
        restarted = 5 * S                                # the sim restarted: its clock starts again
        ended = session.watch_clock(restarted)
        assert ended is not None and not session.recording
        result = ended.result(timeout=30)
        assert result.saved and result.index == 0 and result.frames == 30, result.message()
        assert session.watch_clock(restarted + S) is None
        session.start_episode('after the restart', restarted)   # the new timeline records normally
        push_ticks(session, range(15), t0=restarted)
        session.request_stop(tick(14, restarted))
        second = session.stop_episode().result(timeout=30)
        assert second.saved and second.frames == 15 and second.dropped == 0, second.message()
    finally:
        session.close()
    assert validate(root) == []
    episodes = [row for p in sorted((root / 'meta/episodes').glob('*/*.parquet')) for row in pq.read_table(p).to_pylist()]
    assert [row['length'] for row in episodes] == [30, 15]
