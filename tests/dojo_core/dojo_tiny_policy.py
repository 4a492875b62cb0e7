"""A policy type from outside dojo, registered only through a fake distribution's `dojo.policies` entry point.

It uses what ACT does not, so that the platform is tested on it: a two-frame observation history
and an action window that starts one step in the past (Diffusion's windows), a resize + random
crop + colour jitter image pipeline, a frozen backbone, two optimizers (AdamW and SGD) and an EMA
of the weights. The tests copy this file next to a `dojo_tiny_policy-0.1.dist-info` folder whose
entry_points.txt names `tiny_test = dojo_tiny_policy:TinyPolicy` (tests/dojo_core/conftest.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from dojo_core.policies import ImagePreprocessing, Policy, PolicyConfig, TrainingPreset
from dojo_core.policies.features import ACTION_KEY, FeatureType

HISTORY = (-1, 0)


@dataclass
class TinyConfig(PolicyConfig):
    type: ClassVar[str] = 'tiny_test'
    presets: ClassVar[tuple[str, ...]] = ('default', 'tiny')

    chunk_size: int = 4
    n_action_steps: int = 4
    hidden: int = 32
    lr: float = 3e-3
    ema_decay: float = 0.9
    pretrained_encoder: str | None = None

    @property
    def observation_delta_indices(self) -> list[int]:
        return list(HISTORY)

    @property
    def action_delta_indices(self) -> list[int]:
        return list(range(-1, self.chunk_size - 1))

    @property
    def image_preprocessing(self) -> ImagePreprocessing:
        return ImagePreprocessing(resize=(16, 20), crop=(12, 16), color_jitter=0.2)

    def training_preset(self) -> TrainingPreset:
        return TrainingPreset(steps=40, batch_size=4, lr=self.lr, grad_clip_norm=1.0, scheduler='cosine',
                              warmup_steps=2, ema_decay=self.ema_decay)

    def pretrained_weights(self) -> list[str]:
        return [self.pretrained_encoder] if self.pretrained_encoder else []

    @classmethod
    def tiny(cls, **fields: Any) -> TinyConfig:
        return cls(**{'hidden': 16, **fields})


class TinyPolicy(Policy):
    """History of state and pooled frozen-conv image features -> MLP -> the action window."""

    config_class = TinyConfig
    config: TinyConfig

    def __init__(self, config: TinyConfig, dataset_stats=None, *, load_pretrained_weights: bool = True) -> None:
        super().__init__(config, dataset_stats, load_pretrained_weights=load_pretrained_weights)
        state = config.input_of_type(FeatureType.STATE)
        self.state_key = state
        self.backbone = nn.Conv2d(3, 4, 3)
        self.backbone.requires_grad_(False)
        width = (config.input_features[state].shape[0] if state else 0) + 4 * len(config.image_features)
        self.action_dim = config.action_feature.shape[0]
        self.encoder = nn.Sequential(nn.Linear(len(HISTORY) * width, config.hidden), nn.ReLU())
        self.head = nn.Linear(config.hidden, config.chunk_size * self.action_dim)

    def make_optimizers(self, preset: TrainingPreset) -> list[torch.optim.Optimizer]:
        return [torch.optim.AdamW(self.encoder.parameters(), lr=preset.lr),
                torch.optim.SGD(self.head.parameters(), lr=10 * preset.lr, momentum=0.9)]

    def _predict(self, batch: dict[str, Tensor]) -> Tensor:
        parts = []
        for key in ([self.state_key] if self.state_key else []) + self.config.image_features:
            x = batch[key]
            if key == self.state_key:
                parts.append(x if x.ndim == 3 else x[:, None].expand(-1, len(HISTORY), -1))
                continue
            x = x if x.ndim == 5 else x[:, None].expand(-1, len(HISTORY), -1, -1, -1)
            x = self.config.image_preprocessing(x, self.training)
            parts.append(self.backbone(x.flatten(0, 1)).mean(dim=(-2, -1)).unflatten(0, x.shape[:2]))
        hidden = self.encoder(torch.cat(parts, dim=-1).flatten(1))
        return self.head(hidden).unflatten(-1, (self.config.chunk_size, self.action_dim))

    def forward(self, batch) -> tuple[Tensor, dict[str, Tensor]]:
        is_pad = batch[f'{ACTION_KEY}_is_pad']
        batch = self.normalizer.normalize_batch(batch)
        errors = (self._predict(batch) - batch[ACTION_KEY]).pow(2).mean(dim=-1)
        loss = errors.masked_fill(is_pad, 0.0).sum() / (~is_pad).sum().clamp_min(1)
        return loss, {'mse_loss': loss.detach()}

    def predict_normalized_chunk(self, batch: dict[str, Tensor]) -> Tensor:
        return self._predict(batch)
