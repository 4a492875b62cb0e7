"""The SimCell as a LeRobot robot: its joints, commands, cameras and cube pose as dataset features, and back.

Through ROS, a dataset's features come from sim_node's topics as a feature map
(config/features/*.yaml) says: `joint_states` (measured positions or velocities), `joint_commands`
(the targets sent), `cameras/<name>/image_raw` and `sim/object_pose` (the cube in base_link, the
privileged state of state-only policies). Generating data and evaluating policies without
ROS reads the same quantities from the cell directly; this module is the one place that maps
between the two, so that an expert dataset written from the cell, a dataset recorded through ROS
and a policy rolled out on the cell agree on feature names, joint order, shapes and units.
It sits below `expert` (expert datasets) and `evaluation` (rollouts), which both read it.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from dojo_core.policies import PolicyConfig, PolicyFeature
from dojo_core.policies.features import ACTION_KEY, IMAGE_PREFIX, FeatureType
from dojo_core.robot.description import JOINT_NAMES
from dojo_core.sim import SimCell, SimConfig
from dojo_core.sync import FeatureMap, JointUnits
from dojo_core.sync.feature_spec import IMAGE, JOINT_STATE, JOINT_SUFFIX, POSE_NAMES, POSE_STAMPED

# sim_node's topics (relative names; a namespace may precede them)
MEASURED_TOPIC = 'joint_states'
COMMAND_TOPIC = 'joint_commands'
CAMERA_TOPIC = ('cameras', 'image_raw')  # cameras/<name>/image_raw
OBJECT_POSE_TOPIC = ('sim', 'object_pose')
#: The frame of the cell's poses: the URDF root, which sim_node stamps on sim/object_pose (its
#: default base_frame, no frame_prefix).
BASE_FRAME = 'base_link'
PROVIDED = (f'{MEASURED_TOPIC}, {COMMAND_TOPIC}, cameras/<name>/image_raw and {"/".join(OBJECT_POSE_TOPIC)} '
            f'({POSE_STAMPED} in {BASE_FRAME})')

MEASURED = ('position', 'velocity')  # JointState fields the cell measures
COMMANDED = 'command'


def periods_per_frame(control_rate_hz: float, fps: float) -> int:
    """Control periods of the cell per frame of a dataset (or policy step) at `fps`; it must divide evenly."""
    ratio = control_rate_hz / fps if fps > 0 else 0.0
    if abs(ratio - round(ratio)) > 1e-6 or round(ratio) < 1:
        raise ValueError(f'{fps} Hz does not divide the cell control rate {control_rate_hz} Hz')
    return int(round(ratio))


@dataclass(frozen=True)
class JointFeature:
    """A vector feature read from the cell: `source` is 'position' or 'velocity' (measured) or 'command'."""

    name: str
    source: str
    joints: tuple[str, ...]
    units: JointUnits

    def __post_init__(self) -> None:
        unknown = [j for j in self.joints if j not in JOINT_NAMES]
        if unknown:
            raise ValueError(f'feature {self.name!r}: the cell has no joints {unknown} (it has {list(JOINT_NAMES)})')
        object.__setattr__(self, '_index', np.array([JOINT_NAMES.index(j) for j in self.joints]))

    @property
    def element_names(self) -> tuple[str, ...]:
        """LeRobot's element names, e.g. shoulder_pan.pos (as FeatureSpec.names gives them)."""
        suffix = JOINT_SUFFIX['velocity' if self.source == 'velocity' else 'position']
        return tuple(f'{joint}.{suffix}' for joint in self.joints)

    def value(self, joint_vector: np.ndarray) -> np.ndarray:
        """The feature (dataset units, float32) from a cell vector in JOINT_NAMES order (rad or rad/s)."""
        return self.units.to_dataset(np.asarray(joint_vector)[self._index]).astype(np.float32)

    def radians(self, values: np.ndarray, default: np.ndarray) -> np.ndarray:
        """The feature's values back in radians, in JOINT_NAMES order; joints it lacks keep `default`."""
        out = np.array(default, dtype=float)
        out[self._index] = self.units.to_ros(np.asarray(values, dtype=float).reshape(len(self.joints)))
        return out


@dataclass(frozen=True)
class CameraFeature:
    name: str
    camera: str
    height: int
    width: int


@dataclass(frozen=True)
class PoseFeature:
    """The cube pose in the base frame, as FeatureSpec reads sim_node's sim/object_pose: the position
    (m) and the quaternion x, y, z, w (POSE_NAMES order; the cell, like MuJoCo, stores w first)."""

    name: str

    def value(self, cell: SimCell) -> np.ndarray:
        position, (w, x, y, z) = cell.object_pose()
        return np.array([*position, x, y, z, w], dtype=np.float32)


@dataclass(frozen=True)
class CellFeatures:
    """Every feature of a dataset (or every input and output of a policy) as a quantity of the cell."""

    joints: tuple[JointFeature, ...]
    cameras: tuple[CameraFeature, ...]
    poses: tuple[PoseFeature, ...] = ()
    action: str = ACTION_KEY

    def __post_init__(self) -> None:
        actions = [f for f in self.joints if f.name == self.action]
        if len(actions) != 1 or actions[0].source != COMMANDED:
            raise ValueError(f'the features need exactly one {self.action!r} read from the joint commands')

    # -- construction -----------------------------------------------------------------------------
    @classmethod
    def from_feature_map(cls, features: FeatureMap) -> CellFeatures:
        """The map's features as the cell provides them; a feature the cell has no source for is an error."""
        joints, cameras, poses = [], [], []
        for name, spec in features.features.items():
            topic = spec.topic.strip('/').split('/')
            if spec.type == JOINT_STATE and topic[-1] in (MEASURED_TOPIC, COMMAND_TOPIC):
                commanded = topic[-1] == COMMAND_TOPIC
                if spec.field not in (('position',) if commanded else MEASURED):
                    raise ValueError(f'feature {name!r}: the cell has no {spec.field} on {spec.topic}')
                joints.append(JointFeature(name, COMMANDED if commanded else spec.field, spec.joints,
                                           spec.joint_units))
            elif spec.type == IMAGE and len(topic) >= 3 and (topic[-3], topic[-1]) == CAMERA_TOPIC:
                cameras.append(CameraFeature(name, topic[-2], spec.height, spec.width))
            elif spec.type == POSE_STAMPED and tuple(topic[-2:]) == OBJECT_POSE_TOPIC:
                if spec.frame_id not in (None, BASE_FRAME):
                    raise ValueError(f'feature {name!r}: the cell gives the cube pose in {BASE_FRAME}, '
                                     f'not in {spec.frame_id}')
                poses.append(PoseFeature(name))
            else:
                raise ValueError(f'feature {name!r} ({spec.type} on {spec.topic!r}) has no source in the ROS-free '
                                 f'cell: it provides {PROVIDED}')
        return cls(tuple(joints), tuple(cameras), tuple(poses))

    @classmethod
    def from_policy(cls, config: PolicyConfig) -> CellFeatures:
        """A policy's features in radians, joints named `<joint>.pos`, cameras `observation.images.<camera>`,
        an ENV input the cube pose (POSE_NAMES) on sim/object_pose.

        For a policy trained on another unit convention (degrees, gripper 0..100) use
        `from_feature_map` with the map its dataset was recorded with, then `check_policy`.
        """
        return cls.from_feature_map(sim_feature_map(config))

    def check_policy(self, config: PolicyConfig) -> None:
        """Raise unless every input and the output of the policy is one of these features, same shape and names."""
        shapes = {f.name: (len(f.joints),) for f in self.joints}
        shapes.update({c.name: (3, c.height, c.width) for c in self.cameras})
        shapes.update({p.name: (len(POSE_NAMES),) for p in self.poses})
        names = {f.name: f.element_names for f in self.joints}
        names.update({p.name: POSE_NAMES for p in self.poses})
        for name, feature in {**config.input_features, **config.output_features}.items():
            if name not in shapes:
                raise ValueError(f'the policy reads {name!r}, which these features lack ({sorted(shapes)})')
            if shapes[name] != feature.shape:
                raise ValueError(f'{name!r} is {feature.shape} for the policy, {shapes[name]} here')
            if feature.names is not None and name in names and tuple(feature.names) != names[name]:
                raise ValueError(f'{name!r} holds {list(feature.names)} for the policy, {list(names[name])} here')

    # -- the cell these features need -------------------------------------------------------------
    def sim_config(self, base: SimConfig | None = None) -> SimConfig:
        """`base` (default: SimConfig()) if its cameras match the features; with no base, one sized to them.

        A given `base` whose camera sizes differ from the features is an error rather than silently
        resized: the recorder would refuse those frames too.
        """
        if base is not None:
            for cam in self.cameras:
                if cam.camera not in base.cameras:
                    raise ValueError(f'{cam.name}: the cell has no camera {cam.camera!r} ({sorted(base.cameras)})')
                have = base.cameras[cam.camera]
                if (have.height, have.width) != (cam.height, cam.width):
                    raise ValueError(f'{cam.name} is {cam.width}x{cam.height} but the cell renders {cam.camera} at '
                                     f'{have.width}x{have.height}')
            return base
        config = SimConfig()
        for cam in self.cameras:
            if cam.camera not in config.cameras:
                raise ValueError(f'{cam.name}: the cell has no camera {cam.camera!r} ({sorted(config.cameras)})')
            attribute = f'{cam.camera}_camera'
            config = dataclasses.replace(config, **{attribute: dataclasses.replace(
                getattr(config, attribute), height=cam.height, width=cam.width)})
        return config

    # -- reading and commanding the cell ----------------------------------------------------------
    def observation(self, cell: SimCell) -> dict[str, np.ndarray]:
        """Every measured feature now: joint vectors in dataset units, cube poses and camera images
        (H, W, 3) uint8. Only the cameras among the features are rendered (rendering dominates the cost)."""
        sensors = cell.observation(render=False)
        measured = {'position': sensors.joint_positions, 'velocity': sensors.joint_velocities}
        frame = {f.name: f.value(measured[f.source]) for f in self.joints if f.source != COMMANDED}
        frame.update({p.name: p.value(cell) for p in self.poses})
        frame.update({c.name: cell.render(c.camera) for c in self.cameras})
        return frame

    def commands(self, targets: np.ndarray) -> dict[str, np.ndarray]:
        """The command features (the action) for joint targets in radians, JOINT_NAMES order."""
        return {f.name: f.value(targets) for f in self.joints if f.source == COMMANDED}

    def frame(self, cell: SimCell, targets: np.ndarray) -> dict[str, np.ndarray]:
        """A dataset frame: the observation now and the targets sent at this tick."""
        return {**self.observation(cell), **self.commands(targets)}

    def targets(self, action: np.ndarray, current: np.ndarray) -> np.ndarray:
        """Joint targets (rad, JOINT_NAMES order) from an action in dataset units; joints the action
        does not name keep `current`."""
        feature = next(f for f in self.joints if f.name == self.action)
        return feature.radians(action, current)


def sim_feature_map(config: PolicyConfig, fps: int = 30) -> FeatureMap:
    """The sim cell's topics as a policy's features, joints in radians: what sim_node gives a policy
    trained on data recorded from it with config/features/so101_sim.yaml's (or so101_sim_state.yaml's)
    conventions."""
    features = {name: _sim_feature(name, feature)
                for name, feature in {**config.input_features, **config.output_features}.items()}
    return FeatureMap.from_dict({'fps': int(config.fps or fps), 'features': features}, source='the sim cell map')


def _sim_feature(name: str, feature: PolicyFeature) -> dict[str, object]:
    """The feature-map entry of sim_node's topic that fills one policy feature."""
    if feature.type is FeatureType.VISUAL:
        if not name.startswith(IMAGE_PREFIX):
            raise ValueError(f'camera feature {name!r} does not name a camera ({IMAGE_PREFIX}<camera>)')
        return {'topic': f'cameras/{name[len(IMAGE_PREFIX):]}/image_raw', 'type': IMAGE,
                'height': feature.shape[1], 'width': feature.shape[2]}
    if feature.type is FeatureType.ENV:
        if feature.names != POSE_NAMES:
            raise ValueError(f'environment feature {name!r} must be the cube pose {list(POSE_NAMES)} to be read '
                             f'from {"/".join(OBJECT_POSE_TOPIC)}, got {feature.names}')
        return {'topic': '/'.join(OBJECT_POSE_TOPIC), 'type': POSE_STAMPED, 'frame_id': BASE_FRAME, 'max_age': 0.1}
    if feature.type not in (FeatureType.STATE, FeatureType.ACTION):
        raise ValueError(f'feature {name!r} ({feature.type.value}) has no source in the ROS-free cell')
    suffix = '.' + JOINT_SUFFIX['position']
    names = feature.names or ()
    if len(names) != feature.shape[0] or not all(n.endswith(suffix) for n in names):
        raise ValueError(f'feature {name!r} must name its elements <joint>{suffix} to be mapped onto the '
                         f'cell joints, got {names}')
    return {'topic': COMMAND_TOPIC if name == ACTION_KEY else MEASURED_TOPIC, 'type': JOINT_STATE,
            'joints': [n[:-len(suffix)] for n in names], 'max_age': math.inf if name == ACTION_KEY else 0.1}
