"""The Diffusion Policy network on normalised tensors: observation encoder and conditional 1-D U-Net.

Observation encoder: every camera frame goes through the config's image preprocessing (resize,
crop, augmentation), a ResNet-18 (one per camera, or one shared) and a spatial softmax that turns
each of K learned keypoint maps into its expected (x, y) image position, then a linear layer; the
features of all cameras, the state and the environment state of each of the `n_obs_steps` frames
are concatenated into one global conditioning vector.

Denoiser: a 1-D temporal U-Net over the action chunk (channels = action dims). Each level has two
residual blocks of Conv1d-GroupNorm-Mish whose first output is modulated by FiLM (per channel scale
and shift, or shift only) from [timestep embedding, global condition]; levels after the first
halve the time axis on the way down and double it on the way up, with skip connections between
levels of the same length. Written here from the paper's description (no library ships it).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dojo_core.policies.backbone import ResNet18
from dojo_core.policies.diffusion.config import DiffusionConfig
from dojo_core.policies.features import FeatureType
from dojo_core.policies.positional import sinusoid


class SpatialSoftmax(nn.Module):
    """Feature map (B, C, H, W) -> the expected image coordinates of K keypoints (B, 2K), in [-1, 1]."""

    def __init__(self, channels: int, height: int, width: int, num_keypoints: int) -> None:
        super().__init__()
        self.keypoints = nn.Conv2d(channels, num_keypoints, 1)
        ys, xs = torch.meshgrid(torch.linspace(-1.0, 1.0, height), torch.linspace(-1.0, 1.0, width), indexing='ij')
        self.register_buffer('grid', torch.stack([xs.flatten(), ys.flatten()], dim=-1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        attention = F.softmax(self.keypoints(x).flatten(2), dim=-1)  # (B, K, H * W)
        return (attention @ self.grid).flatten(1)


class ImageEncoder(nn.Module):
    """Preprocessed camera image (B, 3, H, W) -> feature (B, 2K): ResNet-18 -> spatial softmax -> linear + ReLU."""

    def __init__(self, config: DiffusionConfig, image_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.backbone = ResNet18(config.backbone_width, config.backbone_norm, config.backbone_stages)
        with torch.no_grad():
            probe = config.image_preprocessing(torch.zeros(1, *image_shape), training=False)
            _, channels, height, width = self.backbone(probe).shape
        k = config.spatial_softmax_num_keypoints
        self.pool = SpatialSoftmax(channels, height, width, k)
        self.out = nn.Linear(2 * k, 2 * k)
        self.feature_dim = 2 * k

    def forward(self, images: Tensor) -> Tensor:
        return F.relu(self.out(self.pool(self.backbone(images))))


class ObservationEncoder(nn.Module):
    """Normalised inputs, each (B, n_obs_steps, ...) -> the global condition (B, n_obs_steps * per-frame dim)."""

    def __init__(self, config: DiffusionConfig) -> None:
        super().__init__()
        self.config = config
        self.vector_keys = [k for k in (config.input_of_type(FeatureType.STATE), config.input_of_type(FeatureType.ENV))
                            if k is not None]
        self.image_keys = config.image_features
        shapes = {k: config.input_features[k].shape for k in self.image_keys}
        if config.separate_encoder_per_camera:
            self.encoders = nn.ModuleList(ImageEncoder(config, shapes[k]) for k in self.image_keys)
        elif self.image_keys:
            self.encoders = nn.ModuleList([ImageEncoder(config, shapes[self.image_keys[0]])])
        else:
            self.encoders = nn.ModuleList()
        image_dim = len(self.image_keys) * 2 * config.spatial_softmax_num_keypoints
        vector_dim = sum(config.input_features[k].shape[0] for k in self.vector_keys)
        self.frame_dim = vector_dim + image_dim
        self.cond_dim = config.n_obs_steps * self.frame_dim

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        parts = [batch[k] for k in self.vector_keys]
        preprocess = self.config.image_preprocessing
        for i, key in enumerate(self.image_keys):
            images = batch[key]  # (B, T, 3, H, W)
            lead = images.shape[:2]
            flat = preprocess(images.flatten(0, 1), self.training)
            encoder = self.encoders[i if self.config.separate_encoder_per_camera else 0]
            parts.append(encoder(flat).unflatten(0, lead))
        return torch.cat(parts, dim=-1).flatten(1)


class FiLMResidualBlock(nn.Module):
    """Two Conv1d-GroupNorm-Mish blocks; FiLM from the condition modulates the first block's output."""

    def __init__(self, in_channels: int, channels: int, cond_dim: int, config: DiffusionConfig) -> None:
        super().__init__()
        k, groups = config.kernel_size, config.n_groups
        self.block1 = nn.Sequential(nn.Conv1d(in_channels, channels, k, padding=k // 2), nn.GroupNorm(groups, channels),
                                    nn.Mish())
        self.block2 = nn.Sequential(nn.Conv1d(channels, channels, k, padding=k // 2), nn.GroupNorm(groups, channels),
                                    nn.Mish())
        self.scale = config.use_film_scale_modulation
        self.film = nn.Sequential(nn.Mish(), nn.Linear(cond_dim, channels * (2 if self.scale else 1)))
        self.skip = nn.Conv1d(in_channels, channels, 1) if in_channels != channels else nn.Identity()

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        h = self.block1(x)
        film = self.film(cond)[..., None]
        if self.scale:
            scale, shift = film.chunk(2, dim=1)
            h = scale * h + shift
        else:
            h = h + film
        return self.block2(h) + self.skip(x)


class ConditionalUnet1d(nn.Module):
    """(noisy actions (B, T, A), timesteps (B,), condition (B, C)) -> prediction (B, T, A)."""

    def __init__(self, config: DiffusionConfig, action_dim: int, cond_dim: int) -> None:
        super().__init__()
        step_dim = config.diffusion_step_embed_dim
        self.step_dim = step_dim
        self.step_mlp = nn.Sequential(nn.Linear(step_dim, 4 * step_dim), nn.Mish(), nn.Linear(4 * step_dim, step_dim))
        film_dim = step_dim + cond_dim
        dims = config.down_dims
        self.down = nn.ModuleList()
        in_channels = action_dim
        for level, channels in enumerate(dims):
            self.down.append(nn.ModuleList([
                FiLMResidualBlock(in_channels, channels, film_dim, config),
                FiLMResidualBlock(channels, channels, film_dim, config),
                nn.Conv1d(channels, channels, 3, stride=2, padding=1) if level < len(dims) - 1 else nn.Identity()]))
            in_channels = channels
        self.mid = nn.ModuleList([FiLMResidualBlock(dims[-1], dims[-1], film_dim, config) for _ in range(2)])
        self.up = nn.ModuleList()
        for level in reversed(range(len(dims) - 1)):
            self.up.append(nn.ModuleList([
                nn.ConvTranspose1d(dims[level + 1], dims[level + 1], 4, stride=2, padding=1),
                FiLMResidualBlock(dims[level + 1] + dims[level], dims[level], film_dim, config),
                FiLMResidualBlock(dims[level], dims[level], film_dim, config)]))
        k = config.kernel_size
        self.head = nn.Sequential(nn.Conv1d(dims[0], dims[0], k, padding=k // 2), nn.GroupNorm(config.n_groups, dims[0]),
                                  nn.Mish(), nn.Conv1d(dims[0], action_dim, 1))

    def forward(self, x: Tensor, timesteps: Tensor, cond: Tensor) -> Tensor:
        film = torch.cat([self.step_mlp(sinusoid(timesteps, self.step_dim)), cond], dim=-1)
        h = x.transpose(1, 2)  # (B, A, T): channels first for Conv1d
        skips = []
        for block1, block2, down in self.down:
            h = block2(block1(h, film), film)
            skips.append(h)
            h = down(h)
        skips.pop()  # the deepest level's output continues through the middle, not a skip
        for block in self.mid:
            h = block(h, film)
        for upsample, block1, block2 in self.up:
            h = torch.cat([upsample(h), skips.pop()], dim=1)
            h = block2(block1(h, film), film)
        return self.head(h).transpose(1, 2)


class DiffusionModel(nn.Module):
    """The observation encoder and the denoiser together."""

    def __init__(self, config: DiffusionConfig) -> None:
        super().__init__()
        self.action_dim = config.action_feature.shape[0]
        self.observation_encoder = ObservationEncoder(config)
        self.unet = ConditionalUnet1d(config, self.action_dim, self.observation_encoder.cond_dim)
