"""The one image conversion and the one image resize between cameras and models.

Cameras, datasets and the frame cache hold frames as uint8 (H, W, 3); models read float32
(3, H, W) in [0, 1]. The torch dataset, the frame cache and a policy's observations all convert
with `to_float_chw`, and ACT's `resize_images` and the frame cache both resize with
`resize_image`: a policy trained on cached or decoded frames sees the same pixels when it serves.
This module sits below `dataset` and `policies`, which both use it.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def to_float_chw(images: np.ndarray | Tensor) -> Tensor:
    """uint8 (..., H, W, 3) -> contiguous float32 (..., 3, H, W) in [0, 1], on the input's device.

    A numpy input is converted in one numpy pass (transpose, convert, scale), several times faster
    than torch's strided copy on CPU, and read-only arrays (memory-mapped frames) are fine.
    """
    if isinstance(images, Tensor):
        return images.movedim(-1, -3).to(torch.float32, memory_format=torch.contiguous_format).div_(255)
    return torch.from_numpy(np.divide(np.moveaxis(images, -1, -3), np.float32(255), dtype=np.float32, order='C'))


def resize_image(images: Tensor, size: Sequence[int]) -> Tensor:
    """Float images (N, C, H, W) -> (N, C, size[0], size[1]): bilinear with antialiasing
    (align_corners=False); images already of that size are returned as they are."""
    size = tuple(int(s) for s in size)
    if tuple(images.shape[-2:]) == size:
        return images
    return F.interpolate(images, size=size, mode='bilinear', align_corners=False, antialias=True)
