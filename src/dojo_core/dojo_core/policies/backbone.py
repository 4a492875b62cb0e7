"""ResNet-18 vision backbone with torchvision's parameter names, so ImageNet weights load as they are.

torchvision is not a dependency (there is no CPU wheel matching our torch pin), so the network is
written here with the same module layout: `conv1, bn1, layer1..layer4` of BasicBlocks with
`downsample.0/1`. A torchvision or timm `resnet18` state dict (e.g. Hub repo
`timm/resnet18.tv_in1k`) therefore loads key for key; its classifier `fc.*` is dropped because the
policy uses the last feature map (stride 32, 8 * width channels).

`norm` chooses what replaces BatchNorm:
- `frozen_batch_norm` (default with pretrained weights): BatchNorm with fixed stats and affine,
  the usual choice for fine-tuning with small batches;
- `batch_norm`: trainable BatchNorm;
- `group_norm`: for training from scratch with small batches (pretrained running stats are
  dropped, only the affine part is loaded).
`width` scales every layer (64 = ResNet-18; 16 or 32 make slim CPU backbones, trained from scratch).
`stages` keeps the first 1-4 stages (fewer: a finer, cheaper feature map for small images, as a
keypoint encoder wants); pretrained weights of the stages left out are ignored.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

from dojo_core.policies.hub import resolve_file

NORMS = ('frozen_batch_norm', 'batch_norm', 'group_norm')
BLOCKS_PER_STAGE = (2, 2, 2, 2)


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm2d with fixed statistics and affine parameters (buffers, never trained)."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer('weight', torch.ones(channels))
        self.register_buffer('bias', torch.zeros(channels))
        self.register_buffer('running_mean', torch.zeros(channels))
        self.register_buffer('running_var', torch.ones(channels))

    def forward(self, x: Tensor) -> Tensor:
        scale = self.weight * torch.rsqrt(self.running_var + self.eps)
        shift = self.bias - self.running_mean * scale
        return x * scale[None, :, None, None] + shift[None, :, None, None]


def norm_layer(norm: str) -> Callable[[int], nn.Module]:
    if norm == 'frozen_batch_norm':
        return FrozenBatchNorm2d
    if norm == 'batch_norm':
        return nn.BatchNorm2d
    if norm == 'group_norm':
        return lambda channels: nn.GroupNorm(min(32, max(1, channels // 4)), channels)
    raise ValueError(f'backbone norm must be one of {NORMS}, got {norm!r}')


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, channels: int, stride: int, norm: Callable[[int], nn.Module]) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = norm(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = norm(channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride, bias=False), norm(channels))

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class ResNet18(nn.Module):
    """Images (B, 3, H, W) -> feature map (B, 2^(stages-1) * width, ~H / 2^(stages+1), ~W / 2^(stages+1))."""

    def __init__(self, width: int = 64, norm: str = 'frozen_batch_norm', stages: int = 4) -> None:
        super().__init__()
        if not 1 <= stages <= len(BLOCKS_PER_STAGE):
            raise ValueError(f'a ResNet-18 has 1 to {len(BLOCKS_PER_STAGE)} stages, got {stages}')
        make_norm = norm_layer(norm)
        self.norm = norm
        self.stages = stages
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = make_norm(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        channels = width
        for stage, blocks in enumerate(BLOCKS_PER_STAGE[:stages]):
            out = width * 2**stage
            layers = [BasicBlock(channels if i == 0 else out, out, 2 if stage and i == 0 else 1, make_norm)
                      for i in range(blocks)]
            self.add_module(f'layer{stage + 1}', nn.Sequential(*layers))
            channels = out
        self.out_channels = channels
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode='fan_out', nonlinearity='relu')

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for stage in range(self.stages):
            x = getattr(self, f'layer{stage + 1}')(x)
        return x


def read_state_dict(path: Path) -> dict[str, Tensor]:
    """Tensors of a .safetensors file or a torch .pth/.pt state dict (loaded with weights_only)."""
    if path.suffix == '.safetensors':
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(path, map_location='cpu', weights_only=True)
    if not isinstance(state, dict):
        raise ValueError(f'{path} does not hold a state dict')
    return state


def load_pretrained(backbone: ResNet18, source: str) -> None:
    """Load torchvision-layout resnet18 weights from a local file/dir or a Hub repo (see hub.resolve_file).

    The classifier (`fc.*`) and the stages the backbone leaves out are dropped, and so are the
    running stats GroupNorm has no use for; any other missing, unexpected or mis-shaped key is an
    error, so a wrong architecture or width never loads half-way.
    """
    path = resolve_file(source, 'model.safetensors')
    state = read_state_dict(path)
    own = backbone.state_dict()
    dropped = ('fc.', *(f'layer{stage + 1}.' for stage in range(backbone.stages, len(BLOCKS_PER_STAGE))))
    state = {k: v for k, v in state.items() if not k.startswith(dropped)}
    if backbone.norm != 'batch_norm':
        state = {k: v for k, v in state.items() if not k.endswith('num_batches_tracked')}
    if backbone.norm == 'group_norm':
        state = {k: v for k, v in state.items() if not k.endswith(('running_mean', 'running_var'))}
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    if missing or unexpected:
        raise ValueError(f'{path} is not a resnet18 state dict in torchvision layout: '
                         f'missing {missing[:5]}, unexpected {unexpected[:5]}')
    wrong = [f'{k} {tuple(state[k].shape)} != {tuple(own[k].shape)}' for k in own if state[k].shape != own[k].shape]
    if wrong:
        raise ValueError(f'{path} does not fit a resnet18 of width {backbone.conv1.out_channels}: {wrong[:3]}')
    backbone.load_state_dict(state)
