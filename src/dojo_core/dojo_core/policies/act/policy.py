"""ACT as a dojo policy: normalisation, CVAE training loss, zero-latent inference."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from dojo_core.policies.act.config import ACTConfig
from dojo_core.policies.act.model import ACTModel
from dojo_core.policies.backbone import load_pretrained
from dojo_core.policies.base import Batch, Policy
from dojo_core.policies.features import ACTION_KEY

PAD_KEY = f'{ACTION_KEY}_is_pad'


class ACTPolicy(Policy):
    """Loss = L1 over the non-padded actions of the chunk + kl_weight * KL(q(z | s, a) || N(0, I))."""

    config_class = ACTConfig
    config: ACTConfig

    def __init__(self, config: ACTConfig, dataset_stats: Mapping[str, Mapping[str, Any]] | None = None, *,
                 load_pretrained_weights: bool = True) -> None:
        super().__init__(config, dataset_stats, load_pretrained_weights=load_pretrained_weights)
        self.model = ACTModel(config)
        if load_pretrained_weights and config.pretrained_backbone_weights and self.model.backbone is not None:
            load_pretrained(self.model.backbone, config.pretrained_backbone_weights)

    def forward(self, batch: Batch) -> tuple[Tensor, dict[str, Tensor]]:
        if ACTION_KEY not in batch or PAD_KEY not in batch:
            raise KeyError(f'a training batch needs {ACTION_KEY!r} and {PAD_KEY!r}, got {sorted(batch)}')
        batch = self.normalizer.normalize_batch(batch)
        actions, is_pad = batch[ACTION_KEY], batch[PAD_KEY].to(torch.bool)
        expected = (self.config.chunk_size, self.model.action_dim)
        if actions.ndim != 3 or tuple(actions.shape[1:]) != expected or tuple(is_pad.shape) != actions.shape[:2]:
            raise ValueError(f'{ACTION_KEY} must be (B, {expected[0]}, {expected[1]}) with {PAD_KEY} (B, '
                             f'{expected[0]}), got {tuple(actions.shape)} and {tuple(is_pad.shape)}: '
                             f'load the dataset with chunk_size = {self.config.chunk_size} action timestamps')
        use_vae = self.training and self.config.use_vae
        if use_vae:
            mu, log_var = self.model.posterior(batch, actions, is_pad)
            latent = mu + torch.exp(0.5 * log_var) * torch.randn_like(mu)
        else:
            latent = actions.new_zeros(actions.shape[0], self.config.latent_dim)
        predicted = self.model(batch, latent)
        valid = ~is_pad
        errors = torch.where(valid[..., None], (predicted - actions).abs(), torch.zeros_like(predicted))
        l1 = errors.sum() / (valid.sum() * self.model.action_dim).clamp_min(1)
        parts = {'l1_loss': l1.detach()}
        if not use_vae:
            return l1, parts
        kl = (-0.5 * (1 + log_var - mu.pow(2) - log_var.exp())).sum(dim=-1).mean()
        parts['kl_loss'] = kl.detach()
        return l1 + self.config.kl_weight * kl, parts

    def predict_normalized_chunk(self, batch: dict[str, Tensor]) -> Tensor:
        some = next(iter(batch.values()))
        latent = torch.zeros(some.shape[0], self.config.latent_dim, dtype=some.dtype, device=some.device)
        return self.model(batch, latent)
