"""Feature maps: which ROS topic fills which LeRobot feature, read from config/features/*.yaml.

One YAML file (`config/features/*.yaml`) is the single description shared by the live recorder,
the rosbag2 -> LeRobot converter and the policy node, so that a dataset recorded live and one
converted from a bag of the same session hold the same columns in the same units.

File layout (every key is checked; unknown keys are errors, so typos do not pass silently)::

    fps: 30                     # dataset frame rate (integer, as LeRobot's info.json)
    timeline: header            # header (default): align on header.stamp | receive: arrival time
    latency: 0.1                # s a live tick waits for late messages (the same value offline)
    future_tolerance: 1.0       # s a header stamp may be ahead of the clock (log time offline); more is refused
    task_topic: task            # std_msgs/String with the task description (latched), or null
    robot_type: so101_follower  # info.json robot_type (optional)
    features:
      observation.state:
        topic: joint_states
        type: sensor_msgs/msg/JointState
        field: position         # position | velocity | effort
        joints: [shoulder_pan, ...]
        units: radians          # radians (default) | degrees
        percent: {gripper: [-0.17, 1.75]}   # joint -> [lower, upper] rad stored as 0..100
        max_age: 0.1            # s; older data makes the tick stale (.inf: holds forever)
        required: true          # a tick without it is dropped; optional features may be absent
      observation.images.front:
        topic: cameras/front/image_raw
        type: sensor_msgs/msg/Image
        width: 640
        height: 480
        encoding: rgb8          # expected wire encoding (optional; rgb8, bgr8, mono8 accepted)
        dtype: video            # video (default) | image
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from dojo_core.robot.description import DESCRIPTION_PACKAGE, share_dir
from dojo_core.sync.errors import FeatureMapError
from dojo_core.sync.feature_spec import (
    IMAGE,
    JOINT_STATE,
    MESSAGE_TYPES,
    TIMELINES,
    TYPE_SETTINGS,
    FeatureSpec,
    is_int,
    is_number,
)
from dojo_core.sync.stamps import DEFAULT_FUTURE_TOLERANCE_S

DEFAULT_LATENCY = 0.1

_COMMON_KEYS = ('topic', 'type', 'required', 'max_age', 'timeline')
_REQUIRED_KEYS = {JOINT_STATE: ('topic', 'type', 'joints'), IMAGE: ('topic', 'type', 'width', 'height')}
_MAP_KEYS = ('fps', 'timeline', 'latency', 'future_tolerance', 'task_topic', 'robot_type', 'features')


@dataclasses.dataclass(frozen=True)
class FeatureMap:
    """Dataset-level settings and the features of a dataset, in column order."""

    fps: int
    features: Mapping[str, FeatureSpec]
    timeline: str = 'header'
    latency: float = DEFAULT_LATENCY
    future_tolerance: float = DEFAULT_FUTURE_TOLERANCE_S
    task_topic: str | None = 'task'
    robot_type: str | None = None

    def __post_init__(self) -> None:
        if not is_int(self.fps) or self.fps <= 0:
            raise FeatureMapError(f'fps must be a positive integer (LeRobot stores an int), got {self.fps!r}')
        if self.timeline not in TIMELINES:
            raise FeatureMapError(f'timeline must be one of {TIMELINES}, got {self.timeline!r}')
        if not is_number(self.latency) or not (0 <= self.latency < math.inf):
            raise FeatureMapError(f'latency must be a finite number of seconds >= 0, got {self.latency!r}')
        if not is_number(self.future_tolerance) or not (0 <= self.future_tolerance < math.inf):
            raise FeatureMapError(f'future_tolerance must be a finite number of seconds >= 0, '
                                  f'got {self.future_tolerance!r}')
        if self.task_topic is not None and (not isinstance(self.task_topic, str) or not self.task_topic):
            raise FeatureMapError(f'task_topic must be a topic name or null, got {self.task_topic!r}')
        if self.robot_type is not None and not isinstance(self.robot_type, str):
            raise FeatureMapError(f'robot_type must be a string, got {self.robot_type!r}')
        if not self.features:
            raise FeatureMapError('a feature map needs at least one feature')
        types: dict[str, str] = {}
        for key, spec in self.features.items():
            if not isinstance(spec, FeatureSpec) or spec.name != key:
                raise FeatureMapError(f'features must map each name to the FeatureSpec of that name ({key!r})')
            if types.setdefault(spec.topic, spec.type) != spec.type:
                raise FeatureMapError(f'topic {spec.topic!r} is read as {types[spec.topic]} and as {spec.type} '
                                      f'(feature {key!r}); a topic has one type')
        if not any(spec.required for spec in self.features.values()):
            raise FeatureMapError('at least one feature must be required (else every tick could be empty)')

    # -- loading ----------------------------------------------------------------------------------
    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> FeatureMap:
        """Read and validate a feature map file; every error names the file."""
        path = Path(path)
        try:
            data = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            raise FeatureMapError(f'{path}: not valid YAML: {exc}') from None
        return cls.from_dict(data, source=str(path))

    @classmethod
    def from_dict(cls, data: Any, source: str = '<feature map>') -> FeatureMap:
        """Build a map from parsed YAML (a dict shaped like the file)."""
        try:
            if not isinstance(data, Mapping):
                raise FeatureMapError(f'expected a mapping with keys {_MAP_KEYS}, got {type(data).__name__}')
            _check_keys(data, _MAP_KEYS, 'the feature map', required=('fps', 'features'))
            features = data['features']
            if not isinstance(features, Mapping):
                raise FeatureMapError(f'features must map feature names to settings, got {type(features).__name__}')
            timeline = data.get('timeline', 'header')
            if timeline not in TIMELINES:   # checked first: it is every feature's default
                raise FeatureMapError(f'timeline must be one of {TIMELINES}, got {timeline!r}')
            specs = {str(name): _spec_from_dict(name, settings, timeline) for name, settings in features.items()}
            settings = {k: v for k, v in data.items() if k != 'features'}
            return cls(features=specs, **settings)
        except FeatureMapError as exc:
            raise FeatureMapError(f'{source}: {exc}') from None

    # -- saving -----------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The map as parsed YAML (`from_dict` gives it back): every setting explicit, comments gone."""
        data: dict[str, Any] = {'fps': self.fps, 'timeline': self.timeline, 'latency': self.latency,
                                'future_tolerance': self.future_tolerance, 'task_topic': self.task_topic,
                                'robot_type': self.robot_type, 'features': {}}
        for name, spec in self.features.items():
            keys = _COMMON_KEYS + TYPE_SETTINGS[spec.type]
            entry = {key: getattr(spec, key) for key in keys}
            entry['joints'] = list(entry['joints']) if 'joints' in entry else None
            if 'percent' in entry:
                entry['percent'] = {joint: list(bounds) for joint, bounds in entry['percent'].items()}
            data['features'][name] = {key: value for key, value in entry.items() if value is not None}
        return data

    def to_yaml(self) -> str:
        """The map as a YAML document, what a checkpoint embeds."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def embedding(self) -> dict[str, str]:
        """{'yaml': the map as YAML, 'sha256': the hash of that text}: what a dataset (and so a checkpoint)
        stores, so that a damaged copy is caught (`from_embedding`)."""
        text = self.to_yaml()
        return {'yaml': text, 'sha256': hashlib.sha256(text.encode()).hexdigest()}

    @classmethod
    def from_embedding(cls, embedded: Mapping[str, str], source: str = '<embedded feature map>') -> FeatureMap:
        """The map an `embedding()` holds; FeatureMapError if the text does not match its hash."""
        text = embedded.get('yaml', '')
        if hashlib.sha256(text.encode()).hexdigest() != embedded.get('sha256'):
            raise FeatureMapError(f'{source}: the feature map does not match its sha256 ({embedded.get("sha256")}): '
                                  'the copy is damaged')
        return cls.from_text(text, source=source)

    @classmethod
    def from_text(cls, text: str, source: str = '<feature map>') -> FeatureMap:
        """A map from YAML text (e.g. the one a checkpoint embeds)."""
        try:
            data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            raise FeatureMapError(f'{source}: not valid YAML: {exc}') from None
        return cls.from_dict(data, source=source)

    # -- what nodes and writers ask ---------------------------------------------------------------
    def lerobot_features(self) -> dict[str, dict[str, Any]]:
        """info.json-style `features` of the mapped features, in map order.

        The columns every dataset has (timestamp, frame_index, episode_index, index, task_index)
        and the video `info` blocks are the writer's business.
        """
        return {name: spec.lerobot_feature() for name, spec in self.features.items()}

    def topics(self) -> dict[str, str]:
        """{topic: message type} of the features (not the task topic): what to subscribe to or read."""
        return {spec.topic: spec.type for spec in self.features.values()}

    def specs_for(self, topic: str) -> tuple[FeatureSpec, ...]:
        """The features read from ``topic`` (a topic may feed several, e.g. position and velocity)."""
        return tuple(spec for spec in self.features.values() if spec.topic == topic)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML keeps the last one silently)."""

    def construct_mapping(self, node, deep=False):  # type: ignore[override]
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f'duplicate key {key!r}', key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _check_keys(data: Mapping, allowed: tuple[str, ...], where: str, required: tuple[str, ...] = ()) -> None:
    unknown = [k for k in data if k not in allowed]
    if unknown:
        raise FeatureMapError(f'{where}: unknown key(s) {unknown}; allowed: {", ".join(allowed)}')
    missing = [k for k in required if k not in data]
    if missing:
        raise FeatureMapError(f'{where}: missing key(s) {missing}')


def _spec_from_dict(name: Any, settings: Any, timeline: str) -> FeatureSpec:
    if not isinstance(settings, Mapping):
        raise FeatureMapError(f'feature {name!r}: expected a mapping of settings, got {settings!r}')
    where = f'feature {name!r}'
    if 'type' not in settings:
        raise FeatureMapError(f'{where}: missing key(s) [\'type\'] (one of {", ".join(MESSAGE_TYPES)})')
    msg_type = settings['type']
    if msg_type not in TYPE_SETTINGS:
        raise FeatureMapError(f'{where}: type must be one of {", ".join(MESSAGE_TYPES)}, got {msg_type!r}')
    _check_keys(settings, _COMMON_KEYS + TYPE_SETTINGS[msg_type], f'{where} ({msg_type})',
                required=_REQUIRED_KEYS.get(msg_type, ('topic', 'type')))
    values = dict(settings)
    if 'joints' in values:
        if not isinstance(values['joints'], list):
            raise FeatureMapError(f'{where}: joints must be a list of joint names, got {values["joints"]!r}')
        values['joints'] = tuple(values['joints'])
    if 'percent' in values and isinstance(values['percent'], Mapping):
        values['percent'] = {joint: tuple(bounds) if isinstance(bounds, list) else bounds
                             for joint, bounds in values['percent'].items()}
    values.setdefault('timeline', timeline)
    return FeatureSpec(name=name, **values)


def feature_map_path(name: str) -> Path:
    """The installed `config/features/<name>.yaml` (e.g. 'so101_sim'), in dojo_description's share/features."""
    return share_dir(DESCRIPTION_PACKAGE) / 'features' / f'{name}.yaml'


def load_feature_map(name_or_path: str | os.PathLike) -> FeatureMap:
    """A feature map from a file path, or by name from the installed config/features/."""
    path = Path(name_or_path)
    if path.suffix not in ('.yaml', '.yml'):
        path = feature_map_path(str(name_or_path))
    if not path.is_file():
        raise FeatureMapError(f'feature map {str(name_or_path)!r} not found (looked for {path})')
    return FeatureMap.from_yaml(path)
