"""The one image resize of policies that look at smaller images than the cameras give.

ACT's `resize_images` and the training frame cache (dojo_core.dataset.frame_cache) must resize
the same way, or a policy trained on cached frames would see other pixels when it serves; both
call `resize_image`.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor


def resize_image(images: Tensor, size: Sequence[int]) -> Tensor:
    """Float images (N, C, H, W) -> (N, C, size[0], size[1]): bilinear with antialiasing
    (align_corners=False); images already of that size are returned as they are."""
    size = tuple(int(s) for s in size)
    if tuple(images.shape[-2:]) == size:
        return images
    return F.interpolate(images, size=size, mode='bilinear', align_corners=False, antialias=True)
