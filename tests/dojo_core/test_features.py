"""dojo_core.sync feature maps: the YAML schema, its errors, and message -> value extraction.

Extraction runs on real rclpy messages and on the dataclasses `rosbags` deserialises from CDR (what
the bag converter sees), which must give identical values.
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from builtin_interfaces.msg import Time
from geometry_msgs.msg import PoseStamped
from rosbags.typesys import Stores, get_typestore
from sensor_msgs.msg import JointState
from std_msgs.msg import Bool, Float64, String

from dojo_core.robot.description import JOINT_NAMES, expand_xacro, joint_limits
from dojo_core.sim import SimConfig
from dojo_core.sync import (
    ExtractionError,
    FeatureMap,
    FeatureMapError,
    FeatureSpec,
    ImageConversionError,
    JointStateError,
    feature_map_path,
    load_feature_map,
    task_text,
)
from dojo_ros.image import numpy_to_image
from dojo_ros.joint_state import vector_to_joint_state

REPO = Path(__file__).resolve().parents[2]
FEATURES_DIR = REPO / 'config' / 'features'
TYPESTORE = get_typestore(Stores.ROS2_JAZZY)
RNG = np.random.default_rng(7)


# --- messages of both flavours ------------------------------------------------------------------

def _stamp(ns: int) -> Time:
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


def _bag_header(ns: int, frame_id: str = ''):
    t = TYPESTORE.types
    return t['std_msgs/msg/Header'](
        stamp=t['builtin_interfaces/msg/Time'](sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000),
        frame_id=frame_id)


def _from_bag(msg):
    """The object rosbags hands the converter for ``msg``: serialised to CDR and deserialised."""
    return TYPESTORE.deserialize_cdr(TYPESTORE.serialize_cdr(msg, msg.__msgtype__), msg.__msgtype__)


def joint_state(flavour: str, names, position, velocity=(), effort=(), stamp_ns: int = 1):
    if flavour == 'rclpy':
        msg = JointState(name=list(names), position=list(position), velocity=list(velocity), effort=list(effort))
        msg.header.stamp = _stamp(stamp_ns)
        return msg
    return _from_bag(TYPESTORE.types['sensor_msgs/msg/JointState'](
        header=_bag_header(stamp_ns), name=list(names), position=np.array(position, dtype=np.float64),
        velocity=np.array(velocity, dtype=np.float64), effort=np.array(effort, dtype=np.float64)))


def image(flavour: str, pixels: np.ndarray, encoding: str, stamp_ns: int = 1, pad: int = 0):
    """An Image as a driver sends it; ``pad`` extra bytes at the end of every row."""
    msg = numpy_to_image(pixels, encoding, stamp=_stamp(stamp_ns))
    if pad:
        rows = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.step)
        msg.data = np.concatenate([rows, np.full((msg.height, pad), 0xEE, np.uint8)], axis=1).tobytes()
        msg.step += pad
    if flavour == 'rclpy':
        return msg
    return _from_bag(TYPESTORE.types['sensor_msgs/msg/Image'](
        header=_bag_header(stamp_ns), height=msg.height, width=msg.width, encoding=msg.encoding,
        is_bigendian=msg.is_bigendian, step=msg.step, data=np.frombuffer(bytes(msg.data), np.uint8)))


def scalar(flavour: str, msg_type: str, value):
    if flavour == 'rclpy':
        return {'std_msgs/msg/Float64': Float64, 'std_msgs/msg/Bool': Bool, 'std_msgs/msg/String': String}[
            msg_type](data=value)
    return _from_bag(TYPESTORE.types[msg_type](data=value))


def pose(flavour: str, xyz, xyzw, frame_id: str = 'base_link', stamp_ns: int = 1):
    if flavour == 'rclpy':
        msg = PoseStamped()
        msg.header.stamp, msg.header.frame_id = _stamp(stamp_ns), frame_id
        p, q = msg.pose.position, msg.pose.orientation
        p.x, p.y, p.z = map(float, xyz)
        q.x, q.y, q.z, q.w = map(float, xyzw)
        return msg
    t = TYPESTORE.types
    return _from_bag(t['geometry_msgs/msg/PoseStamped'](
        header=_bag_header(stamp_ns, frame_id),
        pose=t['geometry_msgs/msg/Pose'](position=t['geometry_msgs/msg/Point'](*map(float, xyz)),
                                         orientation=t['geometry_msgs/msg/Quaternion'](*map(float, xyzw)))))


FLAVOURS = ['rclpy', 'rosbags']


def spec(**settings) -> FeatureSpec:
    return FeatureSpec(**{'name': 'f', 'topic': 't', **settings})


def assert_matches_feature(value: np.ndarray, feature: FeatureSpec) -> None:
    """Every value has exactly the dtype and shape lerobot_features() announces."""
    info = feature.lerobot_feature()
    assert list(value.shape) == info['shape']
    expected = {'video': np.uint8, 'image': np.uint8, 'string': np.str_}.get(info['dtype'], info['dtype'])
    assert value.dtype.type == np.dtype(expected).type
    assert not value.flags.writeable


# --- the shipped feature maps -------------------------------------------------------------------

def test_so101_sim_map_is_the_documented_dataset_layout():
    fmap = FeatureMap.from_yaml(FEATURES_DIR / 'so101_sim.yaml')
    state_names = [f'{joint}.pos' for joint in JOINT_NAMES]
    assert fmap.lerobot_features() == {
        'observation.state': {'dtype': 'float32', 'shape': [6], 'names': state_names},
        'action': {'dtype': 'float32', 'shape': [6], 'names': state_names},
        'observation.images.front': {'dtype': 'video', 'shape': [480, 640, 3], 'names': ['height', 'width', 'channels']},
        'observation.images.wrist': {'dtype': 'video', 'shape': [240, 320, 3], 'names': ['height', 'width', 'channels']},
    }
    assert (fmap.fps, fmap.timeline, fmap.task_topic) == (30, 'header', 'task')
    assert fmap.topics() == {
        'joint_states': 'sensor_msgs/msg/JointState', 'joint_commands': 'sensor_msgs/msg/JointState',
        'cameras/front/image_raw': 'sensor_msgs/msg/Image', 'cameras/wrist/image_raw': 'sensor_msgs/msg/Image',
    }
    assert math.isinf(fmap.features['action'].max_age)
    json.dumps(fmap.lerobot_features())


def test_so101_sim_map_matches_what_the_sim_publishes():
    fmap = FeatureMap.from_yaml(FEATURES_DIR / 'so101_sim.yaml')
    sim = yaml.safe_load((REPO / 'config' / 'sim.yaml').read_text())['/**/sim_node']['ros__parameters']
    for camera in SimConfig().cameras:
        feature = fmap.features[f'observation.images.{camera}']
        assert feature.topic == f'cameras/{camera}/image_raw'
        assert (feature.width, feature.height) == (sim[f'{camera}_camera']['width'], sim[f'{camera}_camera']['height'])
    assert fmap.fps == sim['control_rate_hz'] == sim['front_camera']['rate_hz']
    for name in ('observation.state', 'action'):
        assert fmap.features[name].joints == JOINT_NAMES


@pytest.mark.parametrize('path', sorted(FEATURES_DIR.glob('*.yaml')), ids=lambda p: p.name)
def test_every_shipped_map_loads(path: Path):
    fmap = load_feature_map(path)
    assert fmap.features


def test_lerobot_units_map_uses_the_urdf_gripper_range():
    fmap = FeatureMap.from_yaml(FEATURES_DIR / 'so101_sim_lerobot_units.yaml')
    limits = joint_limits(expand_xacro())
    k = limits.names.index('gripper')
    for name in ('observation.state', 'action'):
        feature = fmap.features[name]
        assert feature.units == 'degrees'
        assert feature.percent == {'gripper': (limits.lower[k], limits.upper[k])}
        radians = np.array([0.1, -0.5, 1.0, 0.0, math.pi / 2, limits.lower[k]])
        value = feature.extract(joint_state('rclpy', JOINT_NAMES, radians))
        np.testing.assert_allclose(value, [math.degrees(0.1), math.degrees(-0.5), math.degrees(1.0), 0.0, 90.0, 0.0],
                                   rtol=1e-6, atol=1e-5)
        open_value = feature.extract(joint_state('rclpy', ['gripper', *JOINT_NAMES[:5]], [limits.upper[k], *radians[:5]]))
        assert open_value[-1] == pytest.approx(100.0)


def test_feature_map_path_points_into_the_installed_description_share():
    path = feature_map_path('so101_sim')
    assert path.parts[-4:] == ('share', 'dojo_description', 'features', 'so101_sim.yaml') and path.is_file()
    with pytest.raises(FeatureMapError, match="feature map 'no_such_map' not found"):
        load_feature_map('no_such_map')


def test_sync_imports_no_ros():
    """The converter runs on machines without ROS: dojo_core.sync must not pull in any ROS package."""
    code = ('import sys, dojo_core.sync; '
            'print(sorted(m for m in sys.modules if m.split(".")[0] in '
            '("rclpy", "rosidl_runtime_py", "sensor_msgs", "std_msgs", "geometry_msgs", "builtin_interfaces")))')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == '[]'


# --- units ----------------------------------------------------------------------------------------

def test_units_round_trip_and_velocity_has_no_offset():
    position = spec(type='sensor_msgs/msg/JointState', joints=('a', 'g'), units='degrees', percent={'g': (-0.5, 1.5)})
    radians = np.array([math.pi, 0.5])
    np.testing.assert_allclose(position.joint_units.to_dataset(radians), [180.0, 50.0])
    np.testing.assert_allclose(position.joint_units.to_ros(position.joint_units.to_dataset(radians)), radians)
    velocity = spec(type='sensor_msgs/msg/JointState', joints=('a', 'g'), field='velocity', units='degrees',
                    percent={'g': (-0.5, 1.5)})
    np.testing.assert_allclose(velocity.joint_units.to_dataset([math.pi, 0.5]), [180.0, 25.0])
    assert velocity.names == ['a.vel', 'g.vel']


# --- extraction -----------------------------------------------------------------------------------

@pytest.mark.parametrize('flavour', FLAVOURS)
def test_joint_state_by_name_in_spec_order(flavour):
    feature = spec(type='sensor_msgs/msg/JointState', joints=tuple(JOINT_NAMES))
    names = sorted(JOINT_NAMES) + ['extra_joint']    # joint_state_broadcaster order, plus a joint not recorded
    msg = joint_state(flavour, names, [float(i) for i in range(len(names))], velocity=[0.5] * len(names))
    value = feature.extract(msg)
    np.testing.assert_array_equal(value, [names.index(j) for j in JOINT_NAMES])
    assert_matches_feature(value, feature)
    velocity = spec(type='sensor_msgs/msg/JointState', joints=('gripper',), field='velocity').extract(msg)
    np.testing.assert_array_equal(velocity, [0.5])


@pytest.mark.parametrize('flavour', FLAVOURS)
@pytest.mark.parametrize(('names', 'position', 'velocity', 'reason'), [
    (['a'], [1.0], [], 'missing_joint'),
    (['a', 'b'], [1.0, math.nan], [], 'non_finite'),
    (['a', 'b'], [1.0, math.inf], [], 'non_finite'),
    (['a', 'b'], [1.0, 2.0], [0.0], 'length_mismatch'),     # velocity asked for, one value short
    (['a', 'b', 'a'], [1.0, 2.0, 3.0], [0.0] * 3, 'duplicate_joint'),
])
def test_joint_state_errors_carry_a_reason(flavour, names, position, velocity, reason):
    field = 'velocity' if velocity else 'position'
    feature = spec(name='observation.state', type='sensor_msgs/msg/JointState', joints=('a', 'b'), field=field)
    msg = joint_state(flavour, names, position, velocity=velocity)
    with pytest.raises(JointStateError) as info:
        feature.extract(msg)
    assert info.value.reason == reason
    assert str(info.value).startswith('observation.state: ')
    assert isinstance(info.value, ExtractionError)


@pytest.mark.parametrize('flavour', FLAVOURS)
@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8', 'mono8'])
def test_image_becomes_rgb(flavour, encoding):
    rgb = RNG.integers(0, 256, size=(3, 5, 3), dtype=np.uint8)
    wire = {'rgb8': rgb, 'bgr8': rgb[:, :, ::-1], 'mono8': rgb[:, :, 0]}[encoding]
    expected = np.repeat(rgb[:, :, :1], 3, axis=2) if encoding == 'mono8' else rgb
    feature = spec(type='sensor_msgs/msg/Image', width=5, height=3)
    value = feature.extract(image(flavour, wire, encoding, pad=3))
    np.testing.assert_array_equal(value, expected)
    assert value.flags['C_CONTIGUOUS']
    assert_matches_feature(value, feature)


@pytest.mark.parametrize('flavour', FLAVOURS)
@pytest.mark.parametrize(('pixels', 'encoding', 'settings', 'reason'), [
    (np.zeros((3, 4, 3), np.uint8), 'rgb8', {}, 'wrong_size'),
    (np.zeros((5, 3, 3), np.uint8), 'rgb8', {}, 'wrong_size'),
    (np.zeros((3, 5, 3), np.uint8), 'bgr8', {'encoding': 'rgb8'}, 'wrong_encoding'),
    (np.zeros((3, 5), np.uint16), '16UC1', {}, 'not_colour'),
])
def test_image_errors_carry_a_reason(flavour, pixels, encoding, settings, reason):
    feature = spec(type='sensor_msgs/msg/Image', width=5, height=3, **settings)
    with pytest.raises(ImageConversionError) as info:
        feature.extract(image(flavour, pixels, encoding))
    assert info.value.reason == reason


@pytest.mark.parametrize('flavour', FLAVOURS)
def test_corrupt_image_layout_is_refused(flavour):
    msg = image(flavour, np.zeros((3, 5, 3), np.uint8), 'rgb8')
    msg.data = msg.data[:-1]
    with pytest.raises(ImageConversionError) as info:
        spec(type='sensor_msgs/msg/Image', width=5, height=3).extract(msg)
    assert info.value.reason == 'bad_data_size'
    msg.encoding = 'yuv422'
    with pytest.raises(ImageConversionError) as info:
        spec(type='sensor_msgs/msg/Image', width=5, height=3).extract(msg)
    assert info.value.reason == 'unsupported_encoding'


@pytest.mark.parametrize('flavour', FLAVOURS)
def test_scalars(flavour):
    cases = [
        ('std_msgs/msg/Float64', 2.5, np.array([2.5], np.float32)),
        ('std_msgs/msg/Bool', True, np.array([True])),
        ('std_msgs/msg/String', 'pick the cube', np.array(['pick the cube'])),
    ]
    for msg_type, data, expected in cases:
        feature = spec(type=msg_type, timeline='receive')
        value = feature.extract(scalar(flavour, msg_type, data))
        np.testing.assert_array_equal(value, expected)
        assert_matches_feature(value, feature)
    with pytest.raises(ExtractionError) as info:
        spec(type='std_msgs/msg/Float64', timeline='receive').extract(scalar(flavour, 'std_msgs/msg/Float64', math.nan))
    assert info.value.reason == 'non_finite'


@pytest.mark.parametrize('flavour', FLAVOURS)
def test_pose_stamped_in_ros_order_and_frame_checked(flavour):
    feature = spec(type='geometry_msgs/msg/PoseStamped', frame_id='base_link')
    value = feature.extract(pose(flavour, (0.1, 0.2, 0.3), (0.0, 0.0, 0.6, 0.8)))
    np.testing.assert_allclose(value, [0.1, 0.2, 0.3, 0.0, 0.0, 0.6, 0.8], rtol=1e-6)
    assert feature.names == ['x', 'y', 'z', 'qx', 'qy', 'qz', 'qw']
    assert_matches_feature(value, feature)
    with pytest.raises(ExtractionError) as info:
        feature.extract(pose(flavour, (0.1, 0.2, 0.3), (0.0, 0.0, 0.6, 0.8), frame_id='world'))
    assert info.value.reason == 'wrong_frame'
    with pytest.raises(ExtractionError) as info:
        feature.extract(pose(flavour, (math.nan, 0.2, 0.3), (0.0, 0.0, 0.6, 0.8)))
    assert info.value.reason == 'non_finite'


@pytest.mark.parametrize('flavour', FLAVOURS)
def test_wrong_message_type_is_refused_not_crashed(flavour):
    feature = spec(type='sensor_msgs/msg/Image', width=5, height=3)
    with pytest.raises(ExtractionError) as info:
        feature.extract(joint_state(flavour, ['a'], [1.0]))
    assert info.value.reason == 'wrong_type'
    with pytest.raises(ExtractionError) as info:
        spec(type='sensor_msgs/msg/JointState', joints=('a',)).stamp_ns(scalar(flavour, 'std_msgs/msg/Bool', True))
    assert info.value.reason == 'wrong_type'


@pytest.mark.parametrize('flavour', FLAVOURS)
def test_stamps_per_timeline(flavour):
    msg = joint_state(flavour, ['a'], [1.0], stamp_ns=12_000_000_345)
    assert spec(type='sensor_msgs/msg/JointState', joints=('a',)).stamp_ns(msg, receive_ns=99) == 12_000_000_345
    receive = spec(type='sensor_msgs/msg/JointState', joints=('a',), timeline='receive')
    assert receive.stamp_ns(msg, receive_ns=99) == 99
    with pytest.raises(ValueError, match='pass receive_ns'):
        receive.stamp_ns(msg)
    with pytest.raises(ExtractionError) as info:
        spec(type='sensor_msgs/msg/JointState', joints=('a',)).stamp_ns(joint_state(flavour, ['a'], [1.0], stamp_ns=0))
    assert info.value.reason == 'zero_stamp'


def test_bag_and_live_messages_give_identical_values():
    specs = [spec(type='sensor_msgs/msg/JointState', joints=('b', 'a'), units='degrees'),
             spec(type='sensor_msgs/msg/Image', width=6, height=4)]
    pixels = RNG.integers(0, 256, size=(4, 6, 3), dtype=np.uint8)
    for feature, build in zip(specs, (lambda f: joint_state(f, ['a', 'b'], [0.25, -1.5]),
                                      lambda f: image(f, pixels[:, :, ::-1], 'bgr8'))):
        live, bag = feature.extract(build('rclpy')), feature.extract(build('rosbags'))
        assert live.dtype == bag.dtype
        np.testing.assert_array_equal(live, bag)


def test_joint_state_built_by_dojo_ros_round_trips():
    feature = spec(type='sensor_msgs/msg/JointState', joints=tuple(JOINT_NAMES))
    positions = RNG.uniform(-1, 1, len(JOINT_NAMES))
    value = feature.extract(vector_to_joint_state(JOINT_NAMES, positions))
    np.testing.assert_array_equal(value, positions.astype(np.float32))


def test_task_text():
    assert task_text(String(data='  pick the cube ')) == 'pick the cube'
    assert task_text(_from_bag(TYPESTORE.types['std_msgs/msg/String'](data='place it'))) == 'place it'
    with pytest.raises(ExtractionError) as info:
        task_text(String(data=' '))
    assert info.value.reason == 'empty_task'


# --- YAML errors ----------------------------------------------------------------------------------

STATE = {'topic': 'joint_states', 'type': 'sensor_msgs/msg/JointState', 'joints': ['a', 'b']}
CAMERA = {'topic': 'cam/image_raw', 'type': 'sensor_msgs/msg/Image', 'width': 8, 'height': 6}


def _map(features=None, **settings) -> dict:
    return {'fps': 30, 'features': features if features is not None else {'observation.state': STATE}, **settings}


def test_minimal_map_defaults():
    fmap = FeatureMap.from_dict(_map(features={'observation.state': STATE, 'observation.images.cam': CAMERA}))
    state = fmap.features['observation.state']
    assert (state.field, state.units, state.required, state.max_age, state.timeline) == \
        ('position', 'radians', True, 0.1, 'header')
    assert (fmap.timeline, fmap.latency, fmap.task_topic, fmap.robot_type) == ('header', 0.1, 'task', None)
    assert fmap.features['observation.images.cam'].dtype == 'video'
    assert list(fmap.features) == ['observation.state', 'observation.images.cam']
    assert fmap.specs_for('joint_states') == (state,)


def test_map_timeline_is_the_features_default_and_can_be_overridden():
    fmap = FeatureMap.from_dict(_map(timeline='receive', features={
        'observation.state': STATE, 'action': {**STATE, 'topic': 'joint_commands', 'timeline': 'header'}}))
    assert fmap.features['observation.state'].timeline == 'receive'
    assert fmap.features['action'].timeline == 'header'


@pytest.mark.parametrize(('data', 'pattern'), [
    (_map(frames_per_second=30), r"the feature map: unknown key\(s\) \['frames_per_second'\]"),
    ({'features': {'observation.state': STATE}}, r"missing key\(s\) \['fps'\]"),
    (_map(fps=0), 'fps must be a positive integer'),
    (_map(fps=29.97), 'fps must be a positive integer'),
    (_map(fps='30'), 'fps must be a positive integer'),
    (_map(timeline='arrival'), 'timeline must be one of'),
    (_map(latency=-0.1), 'latency must be'),
    (_map(features={}), 'at least one feature'),
    (_map(features=['observation.state']), 'features must map feature names'),
    ([1, 2], 'expected a mapping'),
    (_map(features={'observation/state': STATE}), "must not contain '/'"),
    (_map(features={'index': STATE}), 'reserved'),
    (_map(features={'observation.state': {**STATE, 'jionts': ['a']}}), r"unknown key\(s\) \['jionts'\]"),
    (_map(features={'observation.state': {**STATE, 'width': 3}}),
     r"'observation.state' \(sensor_msgs/msg/JointState\): unknown key\(s\) \['width'\]"),
    (_map(features={'observation.state': {k: v for k, v in STATE.items() if k != 'topic'}}),
     r"missing key\(s\) \['topic'\]"),
    (_map(features={'observation.state': {k: v for k, v in STATE.items() if k != 'type'}}),
     r"missing key\(s\) \['type'\]"),
    (_map(features={'observation.state': {k: v for k, v in STATE.items() if k != 'joints'}}),
     r"missing key\(s\) \['joints'\]"),
    (_map(features={'observation.images.cam': {k: v for k, v in CAMERA.items() if k != 'height'}}),
     r"missing key\(s\) \['height'\]"),
    (_map(features={'observation.state': {**STATE, 'type': 'sensor_msgs/msg/JointStates'}}), 'type must be one of'),
    (_map(features={'observation.state': 'joint_states'}), 'expected a mapping of settings'),
    (_map(features={'observation.state': {**STATE, 'joints': 'a'}}), 'joints must be a list'),
    (_map(features={'observation.state': {**STATE, 'joints': []}}), 'joints must be a non-empty list'),
    (_map(features={'observation.state': {**STATE, 'joints': ['a', 'a']}}), 'joints must be unique'),
    (_map(features={'observation.state': {**STATE, 'field': 'positions'}}), 'field must be one of'),
    (_map(features={'observation.state': {**STATE, 'units': 'deg'}}), 'units must be one of'),
    (_map(features={'observation.state': {**STATE, 'percent': {'c': [0, 1]}}}), "percent names joint 'c'"),
    (_map(features={'observation.state': {**STATE, 'percent': {'a': [1, 0]}}}), 'lower < upper'),
    (_map(features={'observation.state': {**STATE, 'percent': {'a': [0]}}}), 'lower < upper'),
    (_map(features={'observation.state': {**STATE, 'field': 'effort', 'units': 'degrees'}}), 'efforts are stored'),
    (_map(features={'observation.state': {**STATE, 'max_age': 0}}), 'max_age must be a positive'),
    (_map(features={'observation.state': {**STATE, 'max_age': '0.1'}}), 'max_age must be a positive'),
    (_map(features={'observation.state': {**STATE, 'required': 'yes'}}), 'required must be true or false'),
    (_map(features={'observation.state': {**STATE, 'required': False}}), 'at least one feature must be required'),
    (_map(features={'observation.state': {**STATE, 'dtype': 'float64'}}), r"unknown key\(s\) \['dtype'\]"),
    (_map(features={'observation.images.cam': {**CAMERA, 'width': 0}}), 'positive integer width and height'),
    (_map(features={'observation.images.cam': {**CAMERA, 'encoding': '16UC1'}}), 'encoding must be one of'),
    (_map(features={'observation.images.cam': {**CAMERA, 'dtype': 'mp4'}}), 'dtype of an image must be one of'),
    (_map(features={'next.success': {'topic': 'sim/success', 'type': 'std_msgs/msg/Bool'}}),
     'has no header stamp; set timeline: receive'),
    (_map(features={'observation.state': STATE, 'observation.images.cam': {**CAMERA, 'topic': 'joint_states'}}),
     "topic 'joint_states' is read as sensor_msgs/msg/JointState and as sensor_msgs/msg/Image"),
])
def test_bad_maps_are_refused_with_a_clear_error(data, pattern):
    with pytest.raises(FeatureMapError, match=pattern) as info:
        FeatureMap.from_dict(data, source='my_map.yaml')
    assert str(info.value).startswith('my_map.yaml: ')


def test_yaml_file_errors_name_the_file(tmp_path: Path):
    path = tmp_path / 'broken.yaml'
    path.write_text('fps: 30\nfeatures:\n  observation.state: {topic: a, type: [\n')
    with pytest.raises(FeatureMapError, match=rf'{path}: not valid YAML'):
        FeatureMap.from_yaml(path)
    path.write_text(yaml.safe_dump(_map()).replace('features:', 'fps: 15\nfeatures:'))
    with pytest.raises(FeatureMapError, match=r"not valid YAML.*duplicate key 'fps'"):
        FeatureMap.from_yaml(path)
    path.write_text(yaml.safe_dump(_map(features={'observation.state': {**STATE, 'jionts': ['a']}})))
    with pytest.raises(FeatureMapError, match=rf"{path}: feature 'observation.state'.*'jionts'"):
        load_feature_map(path)


def test_specs_built_in_code_are_validated_too():
    with pytest.raises(FeatureMapError, match="feature 'f': dtype of a sensor_msgs/msg/JointState feature is float32"):
        spec(type='sensor_msgs/msg/JointState', joints=('a',), dtype='float64')
    assert spec(type='sensor_msgs/msg/Image', width=2, height=2, dtype='image').lerobot_feature()['dtype'] == 'image'
    with pytest.raises(FeatureMapError, match='feature names must be non-empty strings'):
        FeatureSpec(name='', topic='t', type='std_msgs/msg/Bool', timeline='receive')
    with pytest.raises(FeatureMapError, match='features must map each name to the FeatureSpec of that name'):
        FeatureMap(fps=30, features={'x': spec(type='sensor_msgs/msg/JointState', joints=('a',))})


def test_percent_only_for_joint_states_and_numbers_only():
    with pytest.raises(FeatureMapError, match="percent range of 'a'"):
        FeatureMap.from_dict(_map(features={'observation.state': {**STATE, 'percent': {'a': ['lo', 'hi']}}}))
    with pytest.raises(FeatureMapError, match=r'\(sensor_msgs/msg/Image\): unknown key'):
        FeatureMap.from_dict(_map(features={'observation.state': STATE,
                                            'observation.images.cam': {**CAMERA, 'percent': {'a': [0, 1]}}}))
