"""Which topics feed a policy and where its actions go: a feature map bound to a checkpoint's features.

The feature map (config/features/*.yaml) is the source of the topic mapping, because it is what
the recorder used to write the training data: the same FeatureSpec turns a message into the same
numbers live as it did in the dataset. The checkpoint records the features it was trained on
(names, shapes, element names); binding checks that the two agree and says everything that does
not, at configure, instead of failing on the first observation.

Besides the policy's inputs the node needs two JointState features of the map:

* `action`: the joints and units of the policy's output (JointUnits.to_ros turns it back into
  radians), and by default the topic the commands go to;
* a measured position covering the action joints (normally `observation.state`), so that the
  first command of a run is limited relative to where the arm is, not to nothing.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from dojo_core.policies import FeatureType, PolicyConfig, PolicyFeature
from dojo_core.policies.features import ACTION_KEY
from dojo_core.sync import FeatureMap, FeatureMapError, FeatureSpec
from dojo_core.sync.feature_spec import IMAGE, JOINT_STATE


@dataclass(frozen=True)
class FeatureBinding:
    """The feature-map entries a policy uses: what it reads, what it writes, where the arm is."""

    inputs: Mapping[str, FeatureSpec]
    action: FeatureSpec
    measured: FeatureSpec

    @property
    def joints(self) -> tuple[str, ...]:
        """The commanded joints, in the order of the policy's action vector."""
        return self.action.joints

    @property
    def observed(self) -> dict[str, FeatureSpec]:
        """Every feature the node subscribes to: the policy inputs and the measured position."""
        return {**self.inputs, self.measured.name: self.measured}

    def action_to_ros(self, action: np.ndarray) -> np.ndarray:
        """A policy action (dataset units) -> joint positions in radians, `joints` order."""
        return self.action.joint_units.to_ros(action)

    def blank_observation(self) -> dict[str, np.ndarray]:
        """Zeros shaped and typed like the extracted inputs (images uint8 HxWx3): for a warm-up inference."""
        return {name: np.zeros(spec.shape, dtype=np.uint8 if spec.type == IMAGE else np.float32)
                for name, spec in self.inputs.items()}

    def measured_position(self, value: np.ndarray) -> np.ndarray:
        """The measured feature's value (dataset units) -> radians of the action joints."""
        radians = self.measured.joint_units.to_ros(value)
        index = [self.measured.joints.index(joint) for joint in self.joints]
        return radians[index]


def policy_shape(spec: FeatureSpec) -> tuple[int, ...]:
    """The shape a policy sees for a feature: images channel-first (3, H, W), vectors as stored."""
    return (3, spec.height, spec.width) if spec.type == IMAGE else tuple(spec.shape)


def _input_problems(name: str, feature: PolicyFeature, spec: FeatureSpec | None) -> list[str]:
    if spec is None:
        return [f'{name}: the policy reads it, the feature map has no such feature']
    where = f'{name} (topic {spec.topic}, {spec.type})'
    if (feature.type is FeatureType.VISUAL) != (spec.type == IMAGE):
        return [f'{where}: the policy reads a {feature.type.value} feature, the map gives a {spec.type}']
    problems = []
    if policy_shape(spec) != feature.shape:
        problems.append(f'{where}: the policy expects shape {feature.shape}, the map gives {policy_shape(spec)}')
    if feature.names is not None and spec.names is not None and spec.type != IMAGE \
            and tuple(feature.names) != tuple(spec.names):
        problems.append(f'{where}: the policy expects elements {list(feature.names)}, the map gives {spec.names}')
    return problems


def _action_problems(feature: PolicyFeature, spec: FeatureSpec | None) -> list[str]:
    if spec is None:
        return [f'{ACTION_KEY}: the feature map has no {ACTION_KEY!r} feature, so the joints and units of the '
                'policy output are unknown']
    if spec.type != JOINT_STATE or spec.field != 'position':
        given = f'{spec.type} ({spec.field})' if spec.type == JOINT_STATE else spec.type
        return [f'{ACTION_KEY}: must be joint position targets (a JointState feature, field: position), the map '
                f'gives {given}']
    problems = []
    if tuple(spec.shape) != feature.shape:
        problems.append(f'{ACTION_KEY}: the policy outputs shape {feature.shape}, the map has {len(spec.joints)} '
                        f'joints {list(spec.joints)}')
    elif feature.names is not None and tuple(feature.names) != tuple(spec.names):
        problems.append(f'{ACTION_KEY}: the policy outputs {list(feature.names)}, the map names {spec.names}')
    return problems


def _measured(features: FeatureMap, joints: tuple[str, ...], inputs: Mapping[str, FeatureSpec]) -> FeatureSpec | None:
    """A JointState position feature (not the action) covering `joints`; the policy's own inputs first."""
    candidates = [*inputs.values(), *features.features.values()]
    for spec in candidates:
        if spec.name != ACTION_KEY and spec.type == JOINT_STATE and spec.field == 'position' \
                and set(joints) <= set(spec.joints):
            return spec
    return None


def bind_features(config: PolicyConfig, features: FeatureMap, source: str = 'the feature map') -> FeatureBinding:
    """Match a checkpoint's features to a feature map; FeatureMapError listing every mismatch."""
    problems: list[str] = []
    inputs: dict[str, FeatureSpec] = {}
    for name, feature in config.input_features.items():
        spec = features.features.get(name)
        found = _input_problems(name, feature, spec)
        problems += found
        if not found:
            inputs[name] = spec
    action = features.features.get(ACTION_KEY)
    problems += _action_problems(config.action_feature, action)
    measured = None
    if action is not None and action.type == JOINT_STATE:
        measured = _measured(features, action.joints, inputs)
        if measured is None:
            problems.append(f'no JointState position feature besides {ACTION_KEY!r} covers the action joints '
                            f'{list(action.joints)}: the node needs the measured position to start from')
    if problems:
        raise FeatureMapError(f'the policy and {source} do not match:\n  - ' + '\n  - '.join(problems))
    return FeatureBinding(inputs=inputs, action=action, measured=measured)
