"""dojo_core.images: the one uint8 HWC -> float CHW conversion and the one resize."""
from __future__ import annotations

import numpy as np
import torch

from dojo_core.images import resize_image, to_float_chw


def frames(*shape: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)


def test_numpy_and_torch_inputs_convert_to_the_same_contiguous_float_chw():
    x = frames(2, 5, 7, 3)
    from_numpy = to_float_chw(x)
    from_torch = to_float_chw(torch.from_numpy(x))
    for y in (from_numpy, from_torch):
        assert y.dtype == torch.float32 and y.shape == (2, 3, 5, 7) and y.is_contiguous()
    assert torch.equal(from_numpy, from_torch)
    # channel c of pixel (h, w) is x[..., h, w, c] / 255
    assert from_numpy[1, 2, 4, 6].item() == np.float32(x[1, 4, 6, 2]) / np.float32(255)
    assert to_float_chw(np.full((1, 1, 3), 255, np.uint8)).eq(1).all()


def test_read_only_arrays_convert_without_a_copy_warning(recwarn):
    x = frames(4, 6, 3)
    x.flags.writeable = False  # as a memory-mapped frame cache hands them out
    assert to_float_chw(x).shape == (3, 4, 6)
    assert not recwarn.list


def test_resize_keeps_images_of_the_target_size_and_resizes_others():
    x = to_float_chw(frames(1, 8, 12, 3))
    assert resize_image(x, (8, 12)) is x
    y = resize_image(x, (4, 6))
    assert y.shape == (1, 3, 4, 6)
    # antialiased bilinear: a constant image stays constant
    flat = torch.full((1, 3, 8, 12), 0.25)
    assert torch.allclose(resize_image(flat, (3, 5)), torch.full((1, 3, 3, 5), 0.25))
