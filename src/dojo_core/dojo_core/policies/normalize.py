"""Feature normalisation built from dataset stats and stored with the policy's weights.

A policy learns in normalised units and must act in the robot's units, so the stats it was trained
with travel inside its checkpoint (as buffers of this module, in `model.safetensors`): a policy
never depends on a dataset being present at deployment. Modes, with the same formulas as LeRobot:

- MEAN_STD:  (x - mean) / (std + 1e-8)
- MIN_MAX:   2 (x - min) / (max - min) - 1      (to [-1, 1])
- QUANTILES: 2 (x - q01) / (q99 - q01) - 1      (robust to outliers; q01/q99 land on -1/1)
- IDENTITY:  unchanged (images already in [0, 1])

Ranges are clamped to at least 1e-8 so that a constant feature does not divide by zero. With
`use_imagenet_stats`, MEAN_STD images use the ImageNet mean/std instead of the dataset's, which
is what an ImageNet-pretrained backbone expects.
"""
from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from dojo_core.policies.features import FeatureType, PolicyFeature

EPS = 1e-8
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class NormMode(str, Enum):
    IDENTITY = 'IDENTITY'
    MEAN_STD = 'MEAN_STD'
    MIN_MAX = 'MIN_MAX'
    QUANTILES = 'QUANTILES'


STATS_OF_MODE: dict[NormMode, tuple[str, str]] = {
    NormMode.MEAN_STD: ('mean', 'std'),
    NormMode.MIN_MAX: ('min', 'max'),
    NormMode.QUANTILES: ('q01', 'q99'),
}


class FeatureStats(nn.Module):
    """The two stats one feature's mode needs, as buffers (NaN until filled or loaded)."""

    def __init__(self, mode: NormMode, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.mode = mode
        self.stat_names = STATS_OF_MODE[mode]
        for stat in self.stat_names:
            self.register_buffer(stat, torch.full(shape, float('nan')))
        self.ready = False
        self.register_load_state_dict_post_hook(_stats_loaded)

    def _update_ready(self) -> None:
        self.ready = not any(torch.isnan(getattr(self, s)).any() for s in self.stat_names)

    def fill(self, name: str, values: Mapping[str, Any]) -> None:
        for stat in self.stat_names:
            if stat not in values:
                raise ValueError(f'stats of {name!r} lack {stat!r}, needed by {self.mode.value} normalisation '
                                 f'(have {sorted(values)})')
            buffer = getattr(self, stat)
            value = torch.as_tensor(np.asarray(values[stat], dtype=np.float32))
            if value.numel() != buffer.numel():
                raise ValueError(f'stats {name!r}/{stat} have {value.numel()} values, expected shape '
                                 f'{tuple(buffer.shape)}')
            buffer.copy_(value.reshape(buffer.shape))
        self._update_ready()

    def offset_scale(self) -> tuple[Tensor, Tensor]:
        """(offset, scale) with normalised = (x - offset) / scale."""
        low, high = (getattr(self, s) for s in self.stat_names)
        if self.mode is NormMode.MEAN_STD:
            return low, high + EPS
        half_range = (high - low).clamp_min(EPS) / 2
        return low + half_range, half_range


def _stats_loaded(module: FeatureStats, _incompatible_keys: Any) -> None:
    module._update_ready()


class Normalizer(nn.Module):
    """Normalises inputs and targets, unnormalises predictions, by feature name."""

    def __init__(self, features: Mapping[str, PolicyFeature], modes: Mapping[FeatureType, NormMode],
                 stats: Mapping[str, Mapping[str, Any]] | None = None, use_imagenet_stats: bool = False) -> None:
        super().__init__()
        self.stats = nn.ModuleDict()
        self._keys: dict[str, str] = {}
        for name, feature in features.items():
            mode = NormMode(modes[feature.type])
            if mode is NormMode.IDENTITY:
                continue
            key = name.replace('.', '_')
            if key in self.stats:
                raise ValueError(f'feature names {name!r} and another one collide as {key!r}')
            shape = (feature.shape[0], 1, 1) if feature.type is FeatureType.VISUAL else feature.shape
            module = FeatureStats(mode, shape)
            if feature.type is FeatureType.VISUAL and mode is NormMode.MEAN_STD and use_imagenet_stats:
                module.fill(name, {'mean': IMAGENET_MEAN, 'std': IMAGENET_STD})
            elif stats is not None:
                if name not in stats:
                    raise ValueError(f'dataset stats have no entry for {name!r} (have {sorted(stats)})')
                module.fill(name, stats[name])
            self.stats[key] = module
            self._keys[name] = key

    def _stats(self, name: str) -> FeatureStats | None:
        key = self._keys.get(name)
        if key is None:
            return None
        module = self.stats[key]
        if not module.ready:
            raise RuntimeError(f'no normalisation stats for {name!r}: build the policy with the dataset '
                               'stats (meta/stats.json) or load it from a checkpoint')
        return module

    def normalize(self, name: str, x: Tensor) -> Tensor:
        module = self._stats(name)
        if module is None:
            return x
        offset, scale = module.offset_scale()
        return (x - offset) / scale

    def unnormalize(self, name: str, x: Tensor) -> Tensor:
        module = self._stats(name)
        if module is None:
            return x
        offset, scale = module.offset_scale()
        return x * scale + offset

    def normalize_batch(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of the batch with every known feature normalised (other entries passed through)."""
        return {k: self.normalize(k, v) if k in self._keys else v for k, v in batch.items()}
