"""The ACT network on normalised tensors: CVAE encoder, DETR-style encoder-decoder, action head.

Encoder tokens, in order: the latent z, the robot state, the environment state (those present),
then every camera's backbone feature map flattened row-major (cameras in config order, one
shared backbone). 1D tokens get learned position embeddings, image tokens fixed 2D sinusoidal
ones; as in DETR, positions are added to queries and keys of every attention layer, never to
values. The decoder's `chunk_size` queries start at zero and carry learned position embeddings.

The CVAE encoder (training only) reads [CLS, state, action_0 .. action_{k-1}] with fixed 1D
sinusoidal positions and ignores padded actions (`action_is_pad`); its CLS output gives the
posterior mean and log-variance of z. At inference z = 0, the prior's mean.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dojo_core.policies.act.config import ACTConfig
from dojo_core.policies.backbone import ResNet18
from dojo_core.policies.features import FeatureType
from dojo_core.policies.positional import sinusoid_1d, sinusoid_2d


class _Sublayers(nn.Module):
    """Residual wiring shared by encoder and decoder layers: pre-norm x + f(norm(x)) or post-norm norm(x + f(x))."""

    def __init__(self, config: ACTConfig) -> None:
        super().__init__()
        d = config.dim_model
        self.pre_norm = config.pre_norm
        self.linear1 = nn.Linear(d, config.dim_feedforward)
        self.linear2 = nn.Linear(config.dim_feedforward, d)
        self.activation = F.relu if config.feedforward_activation == 'relu' else F.gelu
        self.dropout = nn.Dropout(config.dropout)

    def residual(self, x: Tensor, norm: nn.LayerNorm, fn: Callable[[Tensor], Tensor]) -> Tensor:
        if self.pre_norm:
            return x + self.dropout(fn(norm(x)))
        return norm(x + self.dropout(fn(x)))

    def feed_forward(self, x: Tensor) -> Tensor:
        return self.linear2(self.dropout(self.activation(self.linear1(x))))


class EncoderLayer(_Sublayers):
    def __init__(self, config: ACTConfig) -> None:
        super().__init__(config)
        d = config.dim_model
        self.self_attn = nn.MultiheadAttention(d, config.n_heads, dropout=config.dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(d)
        self.norm2 = nn.LayerNorm(d)

    def forward(self, x: Tensor, pos: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        def attend(h: Tensor) -> Tensor:
            return self.self_attn(h + pos, h + pos, h, key_padding_mask=key_padding_mask, need_weights=False)[0]

        x = self.residual(x, self.norm1, attend)
        return self.residual(x, self.norm2, self.feed_forward)


class DecoderLayer(_Sublayers):
    def __init__(self, config: ACTConfig) -> None:
        super().__init__(config)
        d = config.dim_model
        self.self_attn = nn.MultiheadAttention(d, config.n_heads, dropout=config.dropout, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(d, config.n_heads, dropout=config.dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(d)
        self.norm2 = nn.LayerNorm(d)
        self.norm3 = nn.LayerNorm(d)

    def forward(self, x: Tensor, memory: Tensor, query_pos: Tensor, memory_pos: Tensor) -> Tensor:
        def self_attend(h: Tensor) -> Tensor:
            return self.self_attn(h + query_pos, h + query_pos, h, need_weights=False)[0]

        def cross_attend(h: Tensor) -> Tensor:
            return self.cross_attn(h + query_pos, memory + memory_pos, memory, need_weights=False)[0]

        x = self.residual(x, self.norm1, self_attend)
        x = self.residual(x, self.norm2, cross_attend)
        return self.residual(x, self.norm3, self.feed_forward)


class Encoder(nn.Module):
    def __init__(self, config: ACTConfig, n_layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(n_layers))
        self.norm = nn.LayerNorm(config.dim_model) if config.pre_norm else nn.Identity()

    def forward(self, x: Tensor, pos: Tensor, key_padding_mask: Tensor | None = None) -> Tensor:
        for layer in self.layers:
            x = layer(x, pos, key_padding_mask)
        return self.norm(x)


class Decoder(nn.Module):
    def __init__(self, config: ACTConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.n_decoder_layers))
        self.norm = nn.LayerNorm(config.dim_model)

    def forward(self, x: Tensor, memory: Tensor, query_pos: Tensor, memory_pos: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x, memory, query_pos, memory_pos)
        return self.norm(x)


class ACTModel(nn.Module):
    """Normalised observations + latent -> normalised action chunk (B, chunk_size, action_dim)."""

    def __init__(self, config: ACTConfig) -> None:
        super().__init__()
        d = config.dim_model
        self.config = config
        self.action_dim = config.action_feature.shape[0]
        self.state_key = config.input_of_type(FeatureType.STATE)
        self.env_key = config.input_of_type(FeatureType.ENV)
        self.image_keys = config.image_features
        vector_keys = [k for k in (self.state_key, self.env_key) if k is not None]

        if config.use_vae:
            self.vae_cls = nn.Parameter(torch.zeros(1, 1, d))
            self.vae_state_proj = (nn.Linear(config.input_features[self.state_key].shape[0], d)
                                   if self.state_key else None)
            self.vae_action_proj = nn.Linear(self.action_dim, d)
            self.vae_encoder = Encoder(config, config.n_vae_encoder_layers)
            self.vae_latent_proj = nn.Linear(d, 2 * config.latent_dim)
            n_prefix = 2 if self.state_key else 1
            self.register_buffer('vae_pos', sinusoid_1d(n_prefix + config.chunk_size, d)[None], persistent=False)
            nn.init.normal_(self.vae_cls, std=0.02)

        self.latent_proj = nn.Linear(config.latent_dim, d)
        self.vector_projs = nn.ModuleDict(
            {k.replace('.', '_'): nn.Linear(config.input_features[k].shape[0], d) for k in vector_keys})
        self.vector_keys = vector_keys
        self.token_pos = nn.Embedding(1 + len(vector_keys), d)
        self.backbone: ResNet18 | None = None
        if self.image_keys:
            self.backbone = ResNet18(config.backbone_width, config.backbone_norm)
            self.image_proj = nn.Conv2d(self.backbone.out_channels, d, 1)

        self.encoder = Encoder(config, config.n_encoder_layers)
        self.decoder = Decoder(config)
        self.query_pos = nn.Embedding(config.chunk_size, d)
        self.action_head = nn.Linear(d, self.action_dim)

        transformers = [self.encoder, self.decoder] + ([self.vae_encoder] if config.use_vae else [])
        for module in transformers:
            for param in module.parameters():
                if param.dim() > 1:
                    nn.init.xavier_uniform_(param)

    def posterior(self, batch: dict[str, Tensor], actions: Tensor, action_is_pad: Tensor) -> tuple[Tensor, Tensor]:
        """(mu, log_var) of q(z | state, actions), each (B, latent_dim)."""
        batch_size = actions.shape[0]
        tokens = [self.vae_cls.expand(batch_size, -1, -1)]
        if self.vae_state_proj is not None:
            tokens.append(self.vae_state_proj(batch[self.state_key])[:, None])
        tokens.append(self.vae_action_proj(actions))
        x = torch.cat(tokens, dim=1)
        prefix = torch.zeros(batch_size, len(tokens) - 1, dtype=torch.bool, device=x.device)
        mask = torch.cat([prefix, action_is_pad.to(torch.bool)], dim=1)
        cls = self.vae_encoder(x, self.vae_pos, key_padding_mask=mask)[:, 0]
        mu, log_var = self.vae_latent_proj(cls).chunk(2, dim=-1)
        return mu, log_var

    def image_tokens(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Backbone features of all cameras as tokens (B, N, d) with their 2D position embeddings (N, d)."""
        preprocess = self.config.image_preprocessing
        images = [preprocess(batch[k], self.training) for k in self.image_keys]
        if len({im.shape for im in images}) == 1:  # one backbone pass for all cameras
            maps = self.backbone(torch.cat(images)).chunk(len(images))
        else:
            maps = [self.backbone(im) for im in images]
        tokens, positions = [], []
        for feature_map in maps:
            projected = self.image_proj(feature_map)
            height, width = projected.shape[-2:]
            tokens.append(projected.flatten(2).transpose(1, 2))
            positions.append(sinusoid_2d(height, width, projected.shape[1], projected.device))
        return torch.cat(tokens, dim=1), torch.cat(positions)

    def forward(self, batch: dict[str, Tensor], latent: Tensor) -> Tensor:
        tokens = [self.latent_proj(latent)]
        tokens += [self.vector_projs[k.replace('.', '_')](batch[k]) for k in self.vector_keys]
        x = torch.stack(tokens, dim=1)
        pos = self.token_pos.weight
        if self.backbone is not None:
            image_tokens, image_pos = self.image_tokens(batch)
            x = torch.cat([x, image_tokens], dim=1)
            pos = torch.cat([pos, image_pos.to(pos.dtype)])
        memory = self.encoder(x, pos[None])
        queries = torch.zeros(x.shape[0], self.config.chunk_size, x.shape[-1], dtype=x.dtype, device=x.device)
        out = self.decoder(queries, memory, self.query_pos.weight[None], pos[None])
        return self.action_head(out)
