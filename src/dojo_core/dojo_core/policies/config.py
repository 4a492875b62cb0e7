"""The configuration every policy shares, and its config.json form.

A checkpoint's `config.json` is this dataclass (plus the subclass's fields) with a `"type"` key
naming the policy; `PolicyConfig.from_dict` finds the subclass through the policy registry
(dojo_core.policies.registry: the `dojo.policies` entry points).

Besides its features, a config declares everything training derives from it, so the training
code never names a method: the sample windows (`observation_delta_indices`,
`action_delta_indices`, in frames, as LeRobot's configs declare them), the camera preprocessing
(`image_preprocessing`), the presets it offers (`presets`, `preset`) with their training recipe
(`training_preset`), and the external pretrained weights a config starts from (`pretrained_weights`).
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from dojo_core.policies import registry
from dojo_core.policies.features import ACTION_KEY, FeatureType, PolicyFeature
from dojo_core.policies.normalize import NormMode
from dojo_core.policies.preprocessing import ImagePreprocessing
from dojo_core.policies.trainable import TrainingPreset

CONFIG_NAME = 'config.json'

DEFAULT_NORMALIZATION = {
    FeatureType.VISUAL.value: NormMode.IDENTITY.value,
    FeatureType.STATE.value: NormMode.MEAN_STD.value,
    FeatureType.ENV.value: NormMode.MEAN_STD.value,
    FeatureType.ACTION.value: NormMode.MEAN_STD.value,
}

DEFAULT_PRESET = 'default'


@dataclass
class PolicyConfig:
    """Features, normalisation and chunking common to all policies, and what training derives from a config."""

    type: ClassVar[str] = ''
    presets: ClassVar[tuple[str, ...]] = (DEFAULT_PRESET,)  # names `preset` accepts; every trainable type
    # also offers 'tiny' (seconds-scale, for tests and smoke runs)

    input_features: dict[str, PolicyFeature] = field(default_factory=dict, metadata={
        'description': 'Observation features the policy reads, by dataset key (see features.dataset_features).'})
    output_features: dict[str, PolicyFeature] = field(default_factory=dict, metadata={
        'description': 'Features the policy predicts: exactly one, "action".'})
    normalization_mapping: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_NORMALIZATION), metadata={
        'description': 'Normalisation mode per feature kind (VISUAL, STATE, ENV, ACTION); kinds left out keep '
                       "the policy's defaults (here: images IDENTITY, the rest MEAN_STD)."})
    use_imagenet_stats: bool = field(default=True, metadata={
        'description': 'MEAN_STD images use ImageNet mean/std instead of the dataset stats.'})
    fps: float | None = field(default=None, metadata={
        'description': 'Frame rate of the training data (Hz): the rate at which the actions are meant to run.'})
    chunk_size: int = field(default=100, metadata={'description': 'Actions predicted per inference.',
                                                   'range': (1, 10000)})
    n_action_steps: int = field(default=100, metadata={
        'description': 'Actions of each chunk executed before a new chunk is requested.', 'range': (1, 10000)})
    temporal_ensemble_coeff: float | None = field(default=None, metadata={
        'description': 'If set, predict a chunk every step and execute the temporal ensemble of all chunks '
                       'covering it, weights exp(-coeff * i), i = 0 the oldest (needs n_action_steps = 1).'})

    def __post_init__(self) -> None:
        self.input_features = {k: _feature(v) for k, v in self.input_features.items()}
        self.output_features = {k: _feature(v) for k, v in self.output_features.items()}
        defaults = next(f for f in dataclasses.fields(self) if f.name == 'normalization_mapping').default_factory()
        mapping = {**defaults, **self.normalization_mapping}
        self.normalization_mapping = {FeatureType(k).value: NormMode(v).value for k, v in mapping.items()}
        if self.chunk_size < 1 or not 1 <= self.n_action_steps <= self.chunk_size:
            raise ValueError(f'need 1 <= n_action_steps ({self.n_action_steps}) <= chunk_size ({self.chunk_size})')
        if self.temporal_ensemble_coeff is not None and self.n_action_steps != 1:
            raise ValueError('temporal ensembling predicts a chunk every step: set n_action_steps = 1')

    # What training derives from the config ----------------------------------------------------

    @property
    def observation_delta_indices(self) -> list[int]:
        """Frames of every input feature one sample holds, relative to the sample's frame.

        [0] (the default) is the current frame alone, without a history axis; a longer window,
        e.g. [-1, 0], gives every input a history axis of that length, in training and serving.
        """
        return [0]

    @property
    def action_delta_indices(self) -> list[int]:
        """Frames of `action` a training sample holds: by default the `chunk_size` actions from the sample's frame."""
        return list(range(self.chunk_size))

    def delta_indices(self) -> dict[str, list[int]]:
        """The windows a training sample needs, by dataset key, in frames (lerobot's delta_timestamps * fps).

        Inputs read at the current frame only get no window, so they carry no history axis.
        """
        windows = {ACTION_KEY: list(self.action_delta_indices)}
        observation = list(self.observation_delta_indices)
        if observation != [0]:
            windows.update({key: observation for key in self.input_features})
        return windows

    @property
    def image_preprocessing(self) -> ImagePreprocessing:
        """How the policy prepares camera images (resize, crop, augmentation); by default it takes them as they are."""
        return ImagePreprocessing()

    def training_preset(self) -> TrainingPreset:
        """The training recipe of this config (steps, batch, optimiser, schedule, EMA)."""
        raise NotImplementedError(f'{type(self).__name__} declares no training preset')

    def pretrained_weights(self) -> list[str]:
        """External weights (local paths or Hub ids) a new policy of this config loads; none by default."""
        return []

    @classmethod
    def preset(cls, name: str, **fields: Any) -> PolicyConfig:
        """The config of preset `name` (one of `presets`; 'default' = the class defaults) with `fields` set.

        A preset other than the default is the classmethod of that name.
        """
        if name not in cls.presets:
            raise ValueError(f'{cls.type} has no preset {name!r}; available: {list(cls.presets)}')
        return cls(**fields) if name == DEFAULT_PRESET else getattr(cls, name)(**fields)

    # Feature views -------------------------------------------------------------------------

    def validate_features(self) -> None:
        """Raise unless the features describe a buildable policy (called when a policy is built)."""
        if not self.input_features:
            raise ValueError('the config has no input features: set input_features/output_features '
                             '(dojo_core.policies.dataset_features(info["features"]))')
        if list(self.output_features) != [ACTION_KEY] or len(self.output_features[ACTION_KEY].shape) != 1:
            raise ValueError(f'policies predict exactly one vector output {ACTION_KEY!r}, '
                             f'got {list(self.output_features)}')
        for kind in (FeatureType.STATE, FeatureType.ENV):
            self.input_of_type(kind)

    @property
    def image_features(self) -> list[str]:
        """Camera keys in the order the policy stacks them."""
        return [k for k, f in self.input_features.items() if f.type is FeatureType.VISUAL]

    def input_of_type(self, kind: FeatureType) -> str | None:
        """The key of the (single) STATE or ENV input, or None."""
        keys = [k for k, f in self.input_features.items() if f.type is kind]
        if len(keys) > 1:
            raise ValueError(f'at most one {kind.value} input is supported, got {keys}')
        return keys[0] if keys else None

    @property
    def action_feature(self) -> PolicyFeature:
        return self.output_features[ACTION_KEY]

    @property
    def normalization_modes(self) -> dict[FeatureType, NormMode]:
        return {FeatureType(k): NormMode(v) for k, v in self.normalization_mapping.items()}

    # Serialisation -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {'type': self.type}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ('input_features', 'output_features'):
                value = {k: v.to_dict() for k, v in value.items()}
            data[f.name] = value
        return data

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> PolicyConfig:
        """Rebuild the config subclass named by data["type"] (imports that type only); unknown keys are an error."""
        data = dict(data)
        cls = registry.config_class(data.pop('type', None))
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f'{cls.type} config has unknown keys {unknown}')
        return cls(**data)

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / CONFIG_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2) + '\n')
        return path

    @staticmethod
    def load(directory: str | Path) -> PolicyConfig:
        path = Path(directory) / CONFIG_NAME
        if not path.is_file():
            raise FileNotFoundError(f'no {CONFIG_NAME} in {directory}: not a policy checkpoint')
        return PolicyConfig.from_dict(json.loads(path.read_text()))


def _feature(value: PolicyFeature | Mapping[str, Any]) -> PolicyFeature:
    return value if isinstance(value, PolicyFeature) else PolicyFeature.from_dict(value)
