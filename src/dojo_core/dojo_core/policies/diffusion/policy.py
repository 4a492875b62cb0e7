"""Diffusion Policy as a dojo policy: denoising loss on normalised action windows, sampled chunks.

Training regresses the objective's target (the noise for DDPM, the velocity for flow matching)
over the whole `horizon`, conditioned on the encoded observation history. Inference samples a
horizon from Gaussian noise and serves its part from the current step on (the first
n_obs_steps - 1 actions belong to frames already past). Sampling draws from torch's global
generator, so a fixed `torch.manual_seed` reproduces a chunk exactly.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from dojo_core.policies.backbone import load_pretrained
from dojo_core.policies.base import Batch, Policy
from dojo_core.policies.denoising import make_objective
from dojo_core.policies.diffusion.config import DiffusionConfig
from dojo_core.policies.diffusion.model import DiffusionModel
from dojo_core.policies.features import ACTION_KEY

PAD_KEY = f'{ACTION_KEY}_is_pad'


class DiffusionPolicy(Policy):
    """Loss = mean squared error of the denoiser's prediction over the (non-padded) horizon."""

    config_class = DiffusionConfig
    config: DiffusionConfig

    def __init__(self, config: DiffusionConfig, dataset_stats: Mapping[str, Mapping[str, Any]] | None = None, *,
                 load_pretrained_weights: bool = True) -> None:
        super().__init__(config, dataset_stats, load_pretrained_weights=load_pretrained_weights)
        self.model = DiffusionModel(config)
        self.objective = make_objective(config.denoising)
        if load_pretrained_weights and config.pretrained_backbone_weights:
            for encoder in self.model.observation_encoder.encoders:
                load_pretrained(encoder.backbone, config.pretrained_backbone_weights)

    def _history(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Inputs with an explicit history axis (B, n_obs_steps, ...), also when n_obs_steps is 1."""
        inputs = {k: batch[k] for k in self.config.input_features}
        return inputs if self.config.n_obs_steps > 1 else {k: v.unsqueeze(1) for k, v in inputs.items()}

    def forward(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        if ACTION_KEY not in batch or PAD_KEY not in batch:
            raise KeyError(f'a training batch needs {ACTION_KEY!r} and {PAD_KEY!r}, got {sorted(batch)}')
        batch = self.normalizer.normalize_batch(batch)
        actions, is_pad = batch[ACTION_KEY], batch[PAD_KEY].to(torch.bool)
        expected = (self.config.horizon, self.model.action_dim)
        if actions.ndim != 3 or tuple(actions.shape[1:]) != expected:
            raise ValueError(f'{ACTION_KEY} must be (B, {expected[0]}, {expected[1]}), got {tuple(actions.shape)}: '
                             f'load the dataset with the config\'s action window (horizon {self.config.horizon} '
                             f'from frame {1 - self.config.n_obs_steps})')
        cond = self.model.observation_encoder(self._history(batch))
        noisy, timesteps, target = self.objective.training_pair(actions)
        prediction = self.model.unet(noisy, timesteps, cond)
        errors = F.mse_loss(prediction, target, reduction='none')
        if self.config.do_mask_loss_for_padding:
            valid = (~is_pad)[..., None].expand_as(errors)
            loss = errors[valid].mean() if valid.any() else errors.sum() * 0.0
        else:
            loss = errors.mean()
        return loss, {f'{self.config.objective}_loss': loss.detach()}

    def predict_normalized_chunk(self, batch: dict[str, Tensor]) -> Tensor:
        cond = self.model.observation_encoder(self._history(batch))
        noise = torch.randn(cond.shape[0], self.config.horizon, self.model.action_dim, dtype=cond.dtype,
                            device=cond.device)
        horizon = self.objective.sample(lambda x, t: self.model.unet(x, t, cond), noise)
        start = self.config.n_obs_steps - 1
        return horizon[:, start:start + self.config.chunk_size]
