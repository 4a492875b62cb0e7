"""dojo_core.sync.FrameAssembler: ticks, staleness and drop accounting, timelines, live == offline.

Messages are real rclpy messages built with the dojo_ros helpers (and rosbags dataclasses where
the bag path is exercised); each message carries its own sequence number in its values, so a test
can tell exactly which message a frame took.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool

from dojo_core.sync import ExtractionError, FeatureMap, FeatureMapError, Frame, FrameAssembler, JointStateError
from dojo_ros.image import numpy_to_image
from dojo_ros.joint_state import vector_to_joint_state

FPS = 30
T0 = 1_700_000_000_000_000_000        # an epoch-like start: large stamps must not lose precision
STATE = 'observation.state'
CAM = 'observation.images.cam'
ACTION = 'action'
SUCCESS = 'observation.success'


def tick(k: float) -> int:
    """Time of tick k after T0 (1e9/30 has no .5 fraction, so rounding is unambiguous)."""
    return T0 + round(k * 1e9 / FPS)


def feature_map(**settings) -> FeatureMap:
    joints = {'type': 'sensor_msgs/msg/JointState', 'joints': ['a', 'b']}
    return FeatureMap.from_dict({
        'fps': FPS, 'latency': 0.05, **settings,
        'features': {
            STATE: {'topic': 'joint_states', **joints, 'max_age': 0.05},
            CAM: {'topic': 'cam/image_raw', 'type': 'sensor_msgs/msg/Image', 'width': 4, 'height': 2, 'max_age': 0.05},
            ACTION: {'topic': 'joint_commands', **joints, 'max_age': math.inf},
            SUCCESS: {'topic': 'sim/success', 'type': 'std_msgs/msg/Bool', 'timeline': 'receive', 'required': False,
                      'max_age': 0.25},
        }})


def _time(ns: int) -> Time:
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def state(stamp_ns: int, seq: float, names=('a', 'b')) -> JointState:
    return vector_to_joint_state(list(names), [seq, -seq][:len(names)], stamp=_time(stamp_ns))


def frame_image(stamp_ns: int, seq: int, size=(2, 4)):
    return numpy_to_image(np.full((*size, 3), seq % 256, np.uint8), 'rgb8', stamp=_time(stamp_ns))


def seq_of(frame: Frame, name: str) -> float | None:
    value = frame.values[name]
    return None if value is None else float(value.flat[0])


def steady(asm: FrameAssembler, ticks, *, cam=True, action=True) -> None:
    """State (and camera, action) messages stamped exactly on the given ticks, seq = tick number."""
    for k in ticks:
        asm.push('joint_states', state(tick(k), k))
        if cam:
            asm.push('cam/image_raw', frame_image(tick(k), k))
        if action:
            asm.push('joint_commands', state(tick(k), k))


def assert_same_frames(a: list[Frame], b: list[Frame]) -> None:
    assert [(f.index, f.tick, f.stamp_ns) for f in a] == [(f.index, f.tick, f.stamp_ns) for f in b]
    for fa, fb in zip(a, b):
        assert fa.values.keys() == fb.values.keys()
        for name in fa.values:
            va, vb = fa.values[name], fb.values[name]
            assert (va is None) == (vb is None), (fa.index, name)
            if va is not None:
                assert va.dtype == vb.dtype
                np.testing.assert_array_equal(va, vb)


# --- basic assembly ---------------------------------------------------------------------------

def test_each_tick_takes_the_latest_message_at_or_before_it():
    asm = FrameAssembler(feature_map())
    for k in range(10):   # state 1/3 period after each tick, camera exactly on ticks
        asm.push('joint_states', state(tick(k + 1 / 3), k))
        asm.push('cam/image_raw', frame_image(tick(k), k))
        asm.push('joint_commands', state(tick(k), k))
    frames = asm.finish()
    assert asm.start_ns == tick(1 / 3)          # the latest first stamp of the required features
    # Ticks fall 1/3 period after a tick: state k (stamped exactly then), camera and action k.
    assert [f.stamp_ns for f in frames] == [tick(k + 1 / 3) for k in range(10)]
    assert [f.index for f in frames] == [f.tick for f in frames] == list(range(10))
    assert [seq_of(f, STATE) for f in frames] == list(range(10))
    assert [seq_of(f, CAM) for f in frames] == list(range(10))
    assert [f.values[SUCCESS] for f in frames] == [None] * 10    # optional and never published
    frame = frames[0]
    assert frame.values[STATE].dtype == np.float32 and frame.values[STATE].tolist() == [0.0, -0.0]
    assert frame.values[CAM].shape == (2, 4, 3) and frame.values[CAM].dtype == np.uint8
    report = asm.report()
    assert (report.ticks, report.frames, report.dropped) == (10, 10, 0)
    assert report.streams[SUCCESS].absent == {'missing': 10}
    assert report.streams[CAM].age_max_s == pytest.approx(1 / 3 / FPS, abs=1e-9)
    assert report.streams[STATE].age_max_s == 0.0
    assert report.streams[STATE].rate_hz == pytest.approx(FPS, rel=1e-6)


def test_tick_times_are_exact_integers_from_start():
    asm = FrameAssembler(feature_map(), start_ns=T0)
    steady(asm, range(200))
    frames = asm.finish()
    assert [f.stamp_ns for f in frames] == [T0 + (k * 10**9 + FPS // 2) // FPS for k in range(200)]
    assert frames[-1].stamp_ns == T0 + round(199 * 1e9 / FPS)


def test_stale_required_stream_drops_ticks_and_says_why():
    asm = FrameAssembler(feature_map())
    for k in range(30):
        asm.push('joint_states', state(tick(k), k))
        asm.push('joint_commands', state(tick(k), k))
        if not 10 <= k < 15:               # the camera misses 5 frames
            asm.push('cam/image_raw', frame_image(tick(k), k))
    frames = asm.finish()
    # Tick 10 still has image 9 (1/30 s old <= 0.05 s); ticks 11..14 only older ones: stale.
    assert [f.tick for f in frames] == [k for k in range(30) if not 11 <= k <= 14]
    assert [f.index for f in frames] == list(range(26))
    assert seq_of(frames[10], CAM) == 9
    report = asm.report()
    assert (report.ticks, report.frames, report.dropped) == (30, 26, 4)
    assert report.dropped_by_reason == {f'stale:{CAM}': 4}
    assert report.rate_hz == pytest.approx(26 / 30 * FPS)
    assert report.duration_s == pytest.approx(1.0)
    assert report.streams[CAM].age_max_s == pytest.approx(5 / FPS, abs=1e-9)
    assert report.streams[CAM].repeats == 1            # tick 10 reused image 9


def test_explicit_start_counts_missing_streams():
    asm = FrameAssembler(feature_map(), start_ns=tick(-5))
    steady(asm, range(10))
    frames = asm.finish()
    report = asm.report()
    assert (report.ticks, report.frames, report.dropped) == (15, 10, 5)
    assert report.dropped_by_reason == {f'missing:{STATE}': 5, f'missing:{CAM}': 5, f'missing:{ACTION}': 5}
    assert frames[0].tick == 5 and frames[0].index == 0 and frames[0].stamp_ns == tick(0)


def test_auto_start_waits_for_every_required_stream_but_not_optional_ones():
    asm = FrameAssembler(feature_map())
    for k in range(12):
        asm.push('joint_states', state(tick(k), k))
        asm.push('joint_commands', state(tick(k), k))
        if k >= 3:
            asm.push('cam/image_raw', frame_image(tick(k), k))
        if k >= 6:
            asm.push('sim/success', Bool(data=k >= 9), receive_ns=tick(k))
    frames = asm.finish()
    assert asm.start_ns == tick(3)
    assert [seq_of(f, STATE) for f in frames] == list(range(3, 12))
    assert [f.values[SUCCESS] is None for f in frames] == [True] * 3 + [False] * 6
    assert [bool(f.values[SUCCESS][0]) for f in frames[3:]] == [False] * 3 + [True] * 3
    assert asm.report().dropped == 0
    assert asm.report().streams[SUCCESS].absent == {'missing': 3}


def test_stale_optional_stream_is_absent_not_dropped():
    asm = FrameAssembler(feature_map())
    for k in range(20):
        asm.push('joint_states', state(tick(k), k))
        asm.push('cam/image_raw', frame_image(tick(k), k))
        asm.push('joint_commands', state(tick(k), k))
        if k < 5:
            asm.push('sim/success', Bool(data=True), receive_ns=tick(k))
    frames = asm.finish()
    assert len(frames) == 20
    # max_age 0.25 s = 7.5 periods: the value of tick 4 serves up to tick 11.
    assert [f.values[SUCCESS] is not None for f in frames] == [True] * 12 + [False] * 8
    assert asm.report().streams[SUCCESS].absent == {'stale': 8}


def test_action_with_infinite_max_age_holds_the_last_command():
    asm = FrameAssembler(feature_map())
    steady(asm, range(1), cam=True, action=True)
    steady(asm, range(1, 40), cam=True, action=False)
    frames = asm.finish()
    assert len(frames) == 40 and {seq_of(f, ACTION) for f in frames} == {0.0}
    report = asm.report().streams[ACTION]
    assert report.repeats == 39 and report.age_max_s == pytest.approx(39 / FPS, abs=1e-9)


def test_slow_camera_frames_are_repeated_and_counted():
    asm = FrameAssembler(feature_map())
    for k in range(20):
        asm.push('joint_states', state(tick(k), k))
        asm.push('joint_commands', state(tick(k), k))
        if k % 2 == 0:                      # 15 Hz camera into a 30 Hz dataset
            asm.push('cam/image_raw', frame_image(tick(k), k))
    frames = asm.finish()
    assert [seq_of(f, CAM) for f in frames] == [k - k % 2 for k in range(20)]
    report = asm.report().streams[CAM]
    assert report.repeats == 10
    assert report.rate_hz == pytest.approx(15, rel=1e-6)


# --- refused messages -----------------------------------------------------------------------

def test_bad_messages_are_refused_counted_and_never_used():
    asm = FrameAssembler(feature_map())
    steady(asm, range(3))
    bad_state = state(tick(3), 3)
    bad_state.position = [math.nan, 1.0]
    errors = asm.push('joint_states', bad_state)
    assert [type(e) for e in errors] == [JointStateError] and errors[0].reason == 'non_finite'
    assert asm.push('joint_states', state(tick(1.5), 99))[0].reason == 'out_of_order'
    assert asm.push('joint_states', state(tick(2), 98)) == []    # equal stamp: supersedes the buffered one
    assert asm.push('joint_states', state(0, 97))[0].reason == 'zero_stamp'
    assert asm.push('cam/image_raw', frame_image(tick(3), 3, size=(4, 2)))[0].reason == 'wrong_size'
    assert asm.push('joint_commands', state(tick(3), 3, names=('a',)))[0].reason == 'missing_joint'
    assert asm.push('joint_commands', frame_image(tick(3.5), 3))[0].reason == 'wrong_type'
    assert asm.push('sim/success', Bool(data=True), receive_ns=tick(3)) == []
    frames = asm.finish()
    assert [seq_of(f, STATE) for f in frames] == [0, 1, 98]
    streams = asm.report().streams
    assert streams[STATE].rejected == {'non_finite': 1, 'out_of_order': 1, 'zero_stamp': 1}
    assert streams[CAM].rejected == {'wrong_size': 1}
    assert streams[ACTION].rejected == {'missing_joint': 1, 'wrong_type': 1}
    assert streams[STATE].messages == 4
    assert all(isinstance(e, ExtractionError) for e in errors)


def test_one_topic_feeds_several_features_independently():
    fmap = FeatureMap.from_dict({'fps': FPS, 'features': {
        'observation.state': {'topic': 'joint_states', 'type': 'sensor_msgs/msg/JointState', 'joints': ['a', 'b']},
        'observation.velocity': {'topic': 'joint_states', 'type': 'sensor_msgs/msg/JointState',
                                 'joints': ['a', 'b'], 'field': 'velocity', 'required': False}}})
    asm = FrameAssembler(fmap)
    with_velocity = vector_to_joint_state(['a', 'b'], [1.0, 2.0], velocity=[0.1, 0.2], stamp=_time(tick(0)))
    assert asm.push('joint_states', with_velocity) == []
    errors = asm.push('joint_states', state(tick(1), 5))        # no velocity field
    assert [e.reason for e in errors] == ['length_mismatch']
    frames = asm.finish()
    assert [seq_of(f, 'observation.state') for f in frames] == [1.0, 5.0]
    np.testing.assert_allclose(frames[1].values['observation.velocity'], [0.1, 0.2])   # 1/30 s old, within 0.1


def test_unknown_topic_and_finished_episode_are_programming_errors():
    asm = FrameAssembler(feature_map())
    with pytest.raises(KeyError, match="no feature reads topic 'tf'"):
        asm.push('tf', state(tick(0), 0))
    asm.finish()
    with pytest.raises(RuntimeError, match='finished'):
        asm.push('joint_states', state(tick(0), 0))
    with pytest.raises(RuntimeError, match='finished'):
        asm.poll()
    with pytest.raises(ValueError, match='latency'):
        FrameAssembler(feature_map(), latency=-1.0)


def test_no_frames_without_every_required_stream():
    asm = FrameAssembler(feature_map())
    for k in range(10):
        asm.push('joint_states', state(tick(k), k))
        assert asm.poll(now_ns=tick(k)) == []
    assert asm.finish() == []
    report = asm.report()
    assert report.start_ns is None and report.ticks == 0 and report.rate_hz == 0.0
    assert report.streams[STATE].buffered == 1          # only what a later tick 0 could still use


# --- timelines ------------------------------------------------------------------------------

@pytest.mark.parametrize('timeline', ['header', 'receive'])
def test_timeline_decides_which_image_a_tick_takes(timeline):
    """Images captured on the ticks arrive 70 ms later; joint states arrive at once."""
    asm = FrameAssembler(feature_map(timeline=timeline, latency=0.1))
    delay = 70_000_000
    for k in range(30):
        asm.push('joint_states', state(tick(k), k), receive_ns=tick(k))
        asm.push('joint_commands', state(tick(k), k), receive_ns=tick(k))
        asm.push('cam/image_raw', frame_image(tick(k), k), receive_ns=tick(k) + delay)
    frames = asm.finish()
    if timeline == 'header':
        # Aligned on capture time: tick k shows image k.
        assert [(seq_of(f, STATE), seq_of(f, CAM)) for f in frames] == [(k, k) for k in range(30)]
    else:
        # Aligned on arrival: a tick at t shows the last image captured by t - 70 ms.
        assert asm.start_ns == tick(0) + delay
        # The last tick is 70 ms after the last joint state: stale.
        assert asm.report().dropped_by_reason == {f'stale:{STATE}': 1}
        for f in frames:
            assert seq_of(f, STATE) == max(k for k in range(30) if tick(k) <= f.stamp_ns)
            assert seq_of(f, CAM) == max(k for k in range(30) if tick(k) + delay <= f.stamp_ns)
    assert asm.report().timeline == timeline


# --- live == offline ------------------------------------------------------------------------

def _scenario(seed: int, seconds: float = 4.0, max_delay: float = 0.04):
    """Messages of one episode as (arrival_ns, stamp_on_timeline_ns, topic, message).

    Joint states at 30 Hz with jitter, one lost now and then and a 0.3 s outage; a camera at 30 Hz
    offset from the states, with a few frames lost; commands at 10 Hz; success (receive timeline,
    optional) at 3.3 Hz, slower than its max_age allows; a few corrupt messages. Each message arrives up to ``max_delay`` after its stamp.
    """
    rng = np.random.default_rng(seed)
    events = []
    last_arrival: dict[str, int] = {}

    def add(stamp: int, topic: str, msg, receive_stamped: bool = False) -> None:
        # One publisher per topic: DDS delivers its messages in order, whatever their delays.
        arrival = max(stamp + int(rng.uniform(0, max_delay) * 1e9), last_arrival.get(topic, 0) + 1)
        last_arrival[topic] = arrival
        events.append((arrival, arrival if receive_stamped else stamp, topic, msg))

    n = int(seconds * FPS)
    start = T0 + 12_345_678
    for i in range(n):
        t = start + round(i * 1e9 / FPS) + int(rng.normal(0, 2e6))
        if rng.random() > 0.03 and not 40 <= i < 49:
            add(t, 'joint_states', state(t, i))
        if rng.random() > 0.05:
            cam_t = t + 11_000_000
            add(cam_t, 'cam/image_raw', frame_image(cam_t, i))
        if i % 3 == 0:
            add(t + 1_000_000, 'joint_commands', state(t + 1_000_000, i))
        if i % 9 == 0:
            add(t, 'sim/success', Bool(data=bool(rng.random() > 0.5)), receive_stamped=True)
        if i % 25 == 7:
            bad = state(t + 500_000, i)
            bad.position = [math.inf, 0.0]
            add(t + 500_000, 'joint_states', bad)
    return events


def _run_live(events, fmap) -> tuple[list[Frame], dict]:
    """The recorder: messages pushed as they arrive, a timer polling with the node clock."""
    asm = FrameAssembler(fmap)
    frames: list[Frame] = []
    clock = [(t, None, None) for t in range(min(e[0] for e in events), max(e[0] for e in events),
                                             round(1e9 / FPS))]
    for arrival, topic, msg in sorted([(e[0], e[2], e[3]) for e in events] + clock, key=lambda e: e[0]):
        if topic is None:
            frames += asm.poll(now_ns=arrival)
        else:
            asm.push(topic, msg, receive_ns=arrival)
    frames += asm.finish()
    return frames, asm.report().as_dict()


def _run_offline(events, fmap, order: str) -> tuple[list[Frame], dict]:
    """The converter: a bag's messages one by one, polling after each; no clock."""
    key = {'stamp': lambda e: e[1], 'log': lambda e: e[0]}[order]
    asm = FrameAssembler(fmap)
    frames: list[Frame] = []
    for arrival, _, topic, msg in sorted(events, key=key):
        asm.push(topic, msg, receive_ns=arrival)
        frames += asm.poll()
    frames += asm.finish()
    return frames, asm.report().as_dict()


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_live_and_offline_give_identical_frames_and_reports(seed):
    fmap = feature_map()
    events = _scenario(seed)
    live, live_report = _run_live(events, fmap)
    for order in ('stamp', 'log'):
        offline, offline_report = _run_offline(events, fmap, order)
        assert_same_frames(live, offline)
        assert offline_report == live_report
    # The scenario exercises what it should: drops (the outage), absences, repeats, refusals.
    assert live_report['dropped_by_reason'].get(f'stale:{STATE}', 0) >= 5
    assert live_report['streams'][STATE]['rejected'] == {'non_finite': 5}
    assert live_report['streams'][SUCCESS]['absent'].get('stale', 0) > 0
    assert live_report['frames'] > 0.8 * live_report['ticks']
    assert all(s['late'] == 0 for s in live_report['streams'].values())


def test_message_later_than_latency_is_counted_late():
    asm = FrameAssembler(feature_map())
    steady(asm, range(5), cam=False)
    for k in range(4):
        asm.push('cam/image_raw', frame_image(tick(k), k))
    frames = asm.poll(now_ns=tick(4) + 60_000_000)   # latency 0.05 s has passed for tick 4
    assert [f.tick for f in frames] == list(range(5))
    assert seq_of(frames[4], CAM) == 3                # image 4 has not arrived yet
    assert asm.push('cam/image_raw', frame_image(tick(4), 4)) == []
    assert asm.report().streams[CAM].late == 1        # a bag replay would have put it in tick 4
    steady(asm, range(5, 6), cam=False)
    assert [seq_of(f, CAM) for f in asm.finish()] == [4]


HOUR = 3600 * 1_000_000_000


def test_a_message_stamped_in_the_future_is_refused_and_poisons_nothing():
    """Live (now = the node clock) and offline (now = log time): one state stamped an hour ahead
    is refused as 'future'; the stream keeps taking real messages and no tick runs up to it."""
    for live in (True, False):
        asm = FrameAssembler(feature_map())
        frames = []
        for k in range(30):
            receive = tick(k) + 1_000_000
            for topic, msg in (('joint_states', state(tick(k), k)), ('cam/image_raw', frame_image(tick(k), k)),
                               ('joint_commands', state(tick(k), k))):
                assert asm.push(topic, msg, receive_ns=receive) == []
            if k == 10:
                (error,) = asm.push('joint_states', state(tick(k) + HOUR, 999), receive_ns=receive)
                assert error.reason == 'future' and 'ahead of the clock' in str(error)
            frames += asm.poll(receive if live else None)
        frames += asm.finish()
        assert [f.tick for f in frames] == list(range(30))
        assert [seq_of(f, STATE) for f in frames] == list(range(30))
        report = asm.report()
        assert report.dropped == 0 and report.streams[STATE].rejected == {'future': 1}
        assert report.streams[STATE].messages == 30


def test_future_tolerance_comes_from_the_feature_map():
    asm = FrameAssembler(feature_map(future_tolerance=0.5))
    assert asm.push('joint_states', state(tick(0) + 400_000_000, 0), receive_ns=tick(0)) == []
    (error,) = asm.push('joint_states', state(tick(0) + 1_000_000_000, 1), receive_ns=tick(0))
    assert error.reason == 'future'
    assert asm.push('joint_states', state(tick(0) + HOUR, 2)) == []   # no receive time: no clock to judge by
    with pytest.raises(FeatureMapError, match='future_tolerance'):
        feature_map(future_tolerance=-1.0)


def test_memory_is_bounded_live_and_offline():
    fmap = feature_map()
    events = _scenario(3, seconds=20.0)
    most = 0
    asm = FrameAssembler(fmap)
    for i, (arrival, _, topic, msg) in enumerate(sorted(events, key=lambda e: e[0])):
        asm.push(topic, msg, receive_ns=arrival)
        asm.poll()
        if i % 50 == 0:
            most = max(most, *(s.buffered for s in asm.report().streams.values()))
    assert asm.report().ticks > 500
    # latency 0.05 s + delays up to 0.04 s at 30 Hz: a handful of messages per stream.
    assert most <= 6

    asm = FrameAssembler(fmap)             # live, and the camera dies after 2 s
    steady(asm, range(60))
    for k in range(60, 600):
        asm.push('joint_states', state(tick(k), k))
        asm.push('joint_commands', state(tick(k), k))
        asm.poll(now_ns=tick(k))
    report = asm.report()
    assert report.dropped_by_reason[f'stale:{CAM}'] > 500
    assert max(s.buffered for s in report.streams.values()) <= 4


# --- bag messages and the report --------------------------------------------------------------

def test_rosbags_messages_give_the_same_frames_as_rclpy_messages():
    typestore = get_typestore(Stores.ROS2_JAZZY)
    types = typestore.types
    fmap = FeatureMap.from_dict({'fps': FPS, 'features': {
        STATE: {'topic': 'joint_states', 'type': 'sensor_msgs/msg/JointState', 'joints': ['b', 'a']}}})

    def bag_state(stamp_ns: int, seq: float):
        msg = types['sensor_msgs/msg/JointState'](
            header=types['std_msgs/msg/Header'](
                stamp=types['builtin_interfaces/msg/Time'](sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9),
                frame_id=''),
            name=['a', 'b'], position=np.array([seq, -seq], dtype=np.float64), velocity=np.array([]),
            effort=np.array([]))
        raw = typestore.serialize_cdr(msg, 'sensor_msgs/msg/JointState')
        return typestore.deserialize_cdr(raw, 'sensor_msgs/msg/JointState')

    results = []
    for build in (state, bag_state):
        asm = FrameAssembler(fmap)
        frames = []
        for k in range(20):
            asm.push('joint_states', build(tick(k * 1.5), k))
            frames += asm.poll()
        results.append(frames + asm.finish())
    assert_same_frames(*results)
    assert [f.values[STATE].tolist() for f in results[0][:3]] == [[-0.0, 0.0], [-0.0, 0.0], [-1.0, 1.0]]


def test_report_as_dict_for_logs_and_diagnostics():
    asm = FrameAssembler(feature_map())
    steady(asm, range(12))
    asm.push('joint_states', state(tick(10), 0))
    asm.finish()
    nested = asm.report().as_dict()
    json.dumps(nested)
    assert nested['frames'] == nested['ticks'] == 12
    assert nested['rate_hz'] == pytest.approx(FPS)
    assert nested['streams'][STATE]['rejected'] == {'out_of_order': 1}
    flat = asm.report().as_dict(flat=True)
    assert flat['frames'] == 12
    assert flat[f'streams/{STATE}/rejected/out_of_order'] == 1
    assert flat[f'streams/{CAM}/age_p95_s'] == 0.0
    assert flat[f'streams/{SUCCESS}/age_max_s'] is None
    assert all(not isinstance(v, dict) for v in flat.values())
