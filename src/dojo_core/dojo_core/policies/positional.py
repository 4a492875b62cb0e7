"""Fixed sinusoidal position embeddings (Transformer 1D, DETR-style 2D for image feature maps).

Fixed rather than learned so that they cost no parameters and work for any sequence length or
feature-map size: an image token's embedding depends on its normalised position, so a policy
sees the same geometry at any camera resolution.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor


def sinusoid(positions: Tensor, dim: int, temperature: float = 10000.0) -> Tensor:
    """positions (...) -> (..., dim): interleaved sin/cos at geometric frequencies 1 .. 1/temperature."""
    if dim % 2:
        raise ValueError(f'sinusoidal embeddings need an even dimension, got {dim}')
    freqs = temperature ** (-torch.arange(dim // 2, dtype=torch.float32, device=positions.device) * 2 / dim)
    angles = positions.to(torch.float32)[..., None] * freqs
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-2)


def sinusoid_1d(length: int, dim: int) -> Tensor:
    """(length, dim) embedding of positions 0 .. length - 1."""
    return sinusoid(torch.arange(length), dim)


def sinusoid_2d(height: int, width: int, dim: int, device: torch.device | None = None) -> Tensor:
    """(height * width, dim) row-major embedding: first half of dim encodes y, second half x.

    Positions are normalised to (0, 2 pi] along each axis (as in DETR).
    """
    if dim % 4:
        raise ValueError(f'2D sinusoidal embeddings need a dimension divisible by 4, got {dim}')
    y = torch.arange(1, height + 1, device=device) / height * 2 * math.pi
    x = torch.arange(1, width + 1, device=device) / width * 2 * math.pi
    ey = sinusoid(y, dim // 2)[:, None, :].expand(height, width, dim // 2)
    ex = sinusoid(x, dim // 2)[None, :, :].expand(height, width, dim // 2)
    return torch.cat([ey, ex], dim=-1).reshape(height * width, dim)
