"""The camera-image preprocessing a policy declares: resize, crop and training-time augmentation.

Declared by the config (`PolicyConfig.image_preprocessing`) and applied by the policy's model to
float (..., 3, H, W) images in training and inference alike, so serving sees what training saw.
Training reads the declaration too: the deterministic first step, `resize`, is what the frame
cache (dojo_core.dataset.frame_cache) stores, so cached frames arrive already resized and the
model's resize is then a no-op. Crop and augmentation stay in the model because they differ
per step (random in training) and per mode (centre crop, no augmentation in inference).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from dojo_core.images import resize_image


@dataclass(frozen=True)
class ImagePreprocessing:
    """resize -> crop (random per image in training, centred otherwise) -> colour jitter (training only).

    Sizes may come as any sequence of two ints (a config's JSON lists); they are stored as tuples.
    """

    resize: tuple[int, int] | None = None  # (height, width) after resizing; None keeps the recorded size
    crop: tuple[int, int] | None = None  # (height, width) of the crop; None = no crop
    color_jitter: float = 0.0  # in training, scale brightness and contrast by factors in [1 - j, 1 + j]

    def __post_init__(self) -> None:
        for name in ('resize', 'crop'):
            size = getattr(self, name)
            if size is not None:
                size = tuple(int(s) for s in size)
                if len(size) != 2 or min(size) < 1:
                    raise ValueError(f'{name} must be (height, width) of positive ints, got {size}')
                object.__setattr__(self, name, size)
        if not 0.0 <= self.color_jitter < 1.0:
            raise ValueError(f'color_jitter must be in [0, 1), got {self.color_jitter}')

    def __call__(self, images: Tensor, training: bool) -> Tensor:
        """Float images (..., 3, H, W) in [0, 1] -> preprocessed images, leading axes kept."""
        lead = images.shape[:-3]
        x = images.reshape(-1, *images.shape[-3:])
        if self.resize is not None:
            x = resize_image(x, self.resize)
        if self.crop is not None:
            x = self._crop(x, training)
        if training and self.color_jitter:
            x = self._jitter(x)
        return x.reshape(*lead, *x.shape[-3:])

    def _crop(self, x: Tensor, training: bool) -> Tensor:
        (height, width), (crop_h, crop_w) = x.shape[-2:], self.crop
        if crop_h > height or crop_w > width:
            raise ValueError(f'cannot crop {self.crop} out of {height}x{width} images')
        if not training:
            top, left = (height - crop_h) // 2, (width - crop_w) // 2
            return x[..., top:top + crop_h, left:left + crop_w]
        tops = torch.randint(0, height - crop_h + 1, (len(x),)).tolist()
        lefts = torch.randint(0, width - crop_w + 1, (len(x),)).tolist()
        return torch.stack([im[:, t:t + crop_h, s:s + crop_w] for im, t, s in zip(x, tops, lefts)])

    def _jitter(self, x: Tensor) -> Tensor:
        factors = 1.0 + self.color_jitter * (2 * torch.rand(2, len(x), 1, 1, 1, device=x.device) - 1)
        mean = x.mean(dim=(-3, -2, -1), keepdim=True)
        return (((x - mean) * factors[0] + mean) * factors[1]).clamp(0.0, 1.0)
