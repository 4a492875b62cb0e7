"""What a policy reads and writes: feature names, kinds and shapes, as stored in its config.json.

The names are the LeRobot dataset keys (`observation.state`, `observation.images.<cam>`, `action`)
so that a training batch, a checkpoint and the policy node all speak the same dictionary. Images
are described channel-first (C, H, W) as the training batches carry them; `names` keeps the
per-element labels of vectors (e.g. `shoulder_pan.pos`) so a node can map actions onto joints by
name instead of by position.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

STATE_KEY = 'observation.state'
ENV_STATE_KEY = 'observation.environment_state'
IMAGE_PREFIX = 'observation.images.'
ACTION_KEY = 'action'


class FeatureType(str, Enum):
    """Kind of a feature; each kind has its own normalisation mode."""

    STATE = 'STATE'
    ENV = 'ENV'
    VISUAL = 'VISUAL'
    ACTION = 'ACTION'


@dataclass(frozen=True)
class PolicyFeature:
    """One input or output of a policy: its kind, its shape per sample and optional element names."""

    type: FeatureType
    shape: tuple[int, ...]
    names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, 'type', FeatureType(self.type))
        object.__setattr__(self, 'shape', tuple(int(s) for s in self.shape))
        if self.names is not None:
            object.__setattr__(self, 'names', tuple(self.names))
        if any(s <= 0 for s in self.shape):
            raise ValueError(f'feature shape must be positive, got {self.shape}')
        if self.type is FeatureType.VISUAL and (len(self.shape) != 3 or self.shape[0] != 3):
            raise ValueError(f'image features are (3, H, W), got {self.shape}')

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {'type': self.type.value, 'shape': list(self.shape)}
        if self.names is not None:
            data['names'] = list(self.names)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PolicyFeature:
        return cls(FeatureType(data['type']), tuple(data['shape']), data.get('names'))


def _image_shape_chw(name: str, spec: Mapping[str, Any]) -> tuple[int, int, int]:
    """(C, H, W) of an image feature of info.json, whose shape is (H, W, C) unless its names say otherwise."""
    shape = tuple(int(s) for s in spec['shape'])
    names = spec.get('names')
    if len(shape) != 3:
        raise ValueError(f'image feature {name!r} must have 3 dimensions, got {shape}')
    if names is not None and list(names)[0] in ('channels', 'channel', 'c'):
        return shape  # already channel-first
    return shape[2], shape[0], shape[1]


def _vector_names(spec: Mapping[str, Any]) -> tuple[str, ...] | None:
    names = spec.get('names')
    if isinstance(names, Mapping):  # older datasets: {"motors": [...]}
        names = next(iter(names.values()), None)
    return tuple(names) if names else None


def dataset_features(info_features: Mapping[str, Mapping[str, Any]]
                     ) -> tuple[dict[str, PolicyFeature], dict[str, PolicyFeature]]:
    """Policy (inputs, outputs) from the `features` block of a LeRobot `meta/info.json`.

    Cameras (`dtype` video or image) become VISUAL inputs, `observation.state` STATE,
    `observation.environment_state` ENV and `action` the ACTION output; bookkeeping columns
    (timestamp, indices) and anything else are not policy features.
    """
    inputs: dict[str, PolicyFeature] = {}
    outputs: dict[str, PolicyFeature] = {}
    for name, spec in info_features.items():
        if spec.get('dtype') in ('video', 'image') and name.startswith(IMAGE_PREFIX):
            inputs[name] = PolicyFeature(FeatureType.VISUAL, _image_shape_chw(name, spec))
        elif name == STATE_KEY:
            inputs[name] = PolicyFeature(FeatureType.STATE, tuple(spec['shape']), _vector_names(spec))
        elif name == ENV_STATE_KEY:
            inputs[name] = PolicyFeature(FeatureType.ENV, tuple(spec['shape']), _vector_names(spec))
        elif name == ACTION_KEY:
            outputs[name] = PolicyFeature(FeatureType.ACTION, tuple(spec['shape']), _vector_names(spec))
    if ACTION_KEY not in outputs:
        raise ValueError(f'the dataset has no {ACTION_KEY!r} feature; features: {sorted(info_features)}')
    return inputs, outputs
