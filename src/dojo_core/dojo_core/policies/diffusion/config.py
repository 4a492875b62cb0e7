"""Diffusion Policy hyperparameters: the paper's CNN setting and a CPU-sized preset.

Defaults (= the `paper` preset) follow Chi et al.'s best CNN setting as LeRobot trains it: two
observation frames, a 16-step horizon of which 8 actions run, a ResNet-18 per camera with
spatial-softmax keypoints (32) and random crops, a 1-D temporal U-Net (512, 1024, 2048) with FiLM
scale-and-shift conditioning, DDPM with 100 steps and the squared-cosine schedule, Adam(W) lr 1e-4
with cosine decay after 500 warm-up steps, weight decay 1e-6, batch 64, EMA of the weights.
Inference runs DDIM in 10 steps on the same schedule (`num_inference_steps` changes it; the
paper's DDPM sampling is `inference_scheduler='DDPM'` with 100 steps).

Windows: a sample holds the `n_obs_steps` frames up to now and `horizon` actions starting at the
oldest of them (LeRobot's layout). The chunk served is the part of the horizon from the current
step on, so `chunk_size` = horizon - n_obs_steps + 1 is derived, never set independently.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from dojo_core.policies.backbone import NORMS
from dojo_core.policies.config import PolicyConfig
from dojo_core.policies.denoising import DenoisingSettings
from dojo_core.policies.features import FeatureType
from dojo_core.policies.normalize import NormMode
from dojo_core.policies.preprocessing import ImagePreprocessing
from dojo_core.policies.trainable import SCHEDULERS, TrainingPreset


@dataclass
class DiffusionConfig(PolicyConfig):
    """Diffusion Policy (Chi et al. 2023), CNN variant: a denoised chunk conditioned on an observation history."""

    type: ClassVar[str] = 'diffusion'
    presets: ClassVar[tuple[str, ...]] = ('default', 'paper', 'cpu', 'tiny')

    normalization_mapping: dict[str, str] = field(default_factory=lambda: {
        FeatureType.VISUAL.value: NormMode.MEAN_STD.value,
        FeatureType.STATE.value: NormMode.MIN_MAX.value,
        FeatureType.ENV.value: NormMode.MIN_MAX.value,
        FeatureType.ACTION.value: NormMode.MIN_MAX.value,
    }, metadata={'description': 'Normalisation per feature kind: images MEAN_STD (ImageNet stats), vectors and '
                                'actions MIN_MAX to [-1, 1], the range the diffusion clips samples to.'})
    n_obs_steps: int = field(default=2, metadata={
        'description': 'Observation frames per prediction (the current one and those before it).', 'range': (1, 64)})
    horizon: int = field(default=16, metadata={
        'description': 'Actions denoised per prediction, from the oldest observation frame on; a multiple of '
                       '2^(len(down_dims) - 1).', 'range': (1, 10000)})
    n_action_steps: int = field(default=8, metadata={
        'description': 'Actions of each chunk executed before a new chunk is requested.', 'range': (1, 10000)})
    chunk_size: int = field(default=0, metadata={
        'description': 'Derived: horizon - n_obs_steps + 1, the actions from the current step on (0 = derive).'})

    # Vision
    resize_images: list[int] | None = field(default_factory=lambda: [120, 160], metadata={
        'description': 'Resize camera images to [height, width] inside the policy (training and inference alike).'})
    crop_images: list[int] | None = field(default_factory=lambda: [108, 144], metadata={
        'description': 'Crop to [height, width]: random in training (shift augmentation), centred in inference.'})
    color_jitter: float = field(default=0.0, metadata={
        'description': 'Training-time brightness/contrast augmentation factor range [1 - j, 1 + j].',
        'range': (0.0, 0.99)})
    backbone_width: int = field(default=64, metadata={
        'description': 'Channels of the first ResNet-18 stage (64 = standard).', 'range': (4, 256)})
    backbone_stages: int = field(default=4, metadata={
        'description': 'ResNet-18 stages kept (4 = stride 32; 3 = stride 16, a finer keypoint grid on small images).',
        'range': (1, 4)})
    backbone_norm: str = field(default='group_norm', metadata={
        'description': f'Normalisation layers of the backbone, one of {NORMS} (group_norm: from scratch).'})
    pretrained_backbone_weights: str | None = field(default=None, metadata={
        'description': 'Optional torchvision-layout resnet18 weights (local file/dir or Hub id), loaded when '
                       'set; None trains the encoders from scratch.'})
    separate_encoder_per_camera: bool = field(default=True, metadata={
        'description': 'One image encoder per camera (else one shared encoder).'})
    spatial_softmax_num_keypoints: int = field(default=32, metadata={
        'description': 'Keypoints of the spatial softmax of each encoder (its feature is 2 x this).',
        'range': (1, 1024)})

    # Denoising network
    down_dims: list[int] = field(default_factory=lambda: [512, 1024, 2048], metadata={
        'description': 'Channels of the U-Net levels (each level after the first halves the time axis).'})
    kernel_size: int = field(default=5, metadata={'description': 'Temporal convolution kernel.', 'range': (1, 31)})
    n_groups: int = field(default=8, metadata={'description': 'GroupNorm groups in the U-Net.', 'range': (1, 64)})
    diffusion_step_embed_dim: int = field(default=128, metadata={
        'description': 'Width of the timestep embedding.', 'range': (2, 4096)})
    use_film_scale_modulation: bool = field(default=True, metadata={
        'description': 'FiLM with scale and shift (else shift only).'})

    # Objective
    objective: str = field(default='diffusion', metadata={'description': 'diffusion or flow_matching.'})
    num_train_timesteps: int = field(default=100, metadata={'description': 'Diffusion steps of the schedule.',
                                                            'range': (1, 10000)})
    num_inference_steps: int = field(default=10, metadata={
        'description': 'Denoising steps per prediction (DDIM/DDPM steps, or Euler steps for flow matching).',
        'range': (1, 10000)})
    inference_scheduler: str = field(default='DDIM', metadata={'description': 'DDIM or DDPM sampling.'})
    beta_schedule: str = field(default='squaredcos_cap_v2', metadata={'description': "diffusers' beta schedule."})
    beta_start: float = field(default=1e-4, metadata={'description': 'First beta (linear schedules).'})
    beta_end: float = field(default=0.02, metadata={'description': 'Last beta (linear schedules).'})
    prediction_type: str = field(default='epsilon', metadata={'description': 'epsilon (noise) or sample.'})
    clip_sample: bool = field(default=True, metadata={'description': 'Clip predicted clean chunks to the range.'})
    clip_sample_range: float = field(default=1.0, metadata={'description': 'Range of clip_sample.'})
    do_mask_loss_for_padding: bool = field(default=False, metadata={
        'description': 'Leave actions past the episode end out of the loss (else learn to hold the last one).'})

    # Training recipe
    optimizer_lr: float = field(default=1e-4, metadata={'description': 'AdamW learning rate.'})
    optimizer_weight_decay: float = field(default=1e-6, metadata={'description': 'AdamW weight decay.'})
    grad_clip_norm: float = field(default=10.0, metadata={'description': 'Gradient norm clipping.'})
    batch_size: int = field(default=64, metadata={'description': 'Training batch size.', 'range': (1, 65536)})
    training_steps: int = field(default=100_000, metadata={'description': 'Training steps of the preset.',
                                                           'range': (1, 10**9)})
    scheduler_name: str = field(default='cosine', metadata={'description': 'constant or cosine after warm-up.'})
    scheduler_warmup_steps: int = field(default=500, metadata={'description': 'Linear warm-up steps.',
                                                               'range': (0, 10**9)})
    ema_decay: float | None = field(default=0.999, metadata={
        'description': 'Decay of the EMA of the weights that is served; None = no EMA.'})

    def __post_init__(self) -> None:
        derived = self.horizon - self.n_obs_steps + 1
        if derived < 1:
            raise ValueError(f'horizon ({self.horizon}) must cover the {self.n_obs_steps} observation frames')
        if self.chunk_size not in (0, derived):
            raise ValueError(f'chunk_size is derived (horizon - n_obs_steps + 1 = {derived}), got {self.chunk_size}')
        self.chunk_size = derived
        super().__post_init__()
        self.down_dims = [int(d) for d in self.down_dims]
        levels = 2 ** (len(self.down_dims) - 1)
        if not self.down_dims or self.horizon % levels:
            raise ValueError(f'horizon ({self.horizon}) must be a multiple of {levels} for down_dims {self.down_dims}')
        if any(d % self.n_groups for d in self.down_dims):
            raise ValueError(f'down_dims {self.down_dims} must be multiples of n_groups ({self.n_groups})')
        if self.backbone_norm not in NORMS:
            raise ValueError(f'backbone_norm must be one of {NORMS}, got {self.backbone_norm!r}')
        if self.scheduler_name not in SCHEDULERS:
            raise ValueError(f'scheduler_name must be one of {SCHEDULERS}, got {self.scheduler_name!r}')
        for name in ('resize_images', 'crop_images'):
            size = getattr(self, name)
            if size is not None:
                setattr(self, name, [int(s) for s in size])
        self.image_preprocessing  # noqa: B018 - validates the sizes and color_jitter
        self.denoising  # noqa: B018 - validates the objective settings

    @property
    def observation_delta_indices(self) -> list[int]:
        return list(range(1 - self.n_obs_steps, 1))

    @property
    def action_delta_indices(self) -> list[int]:
        return list(range(1 - self.n_obs_steps, self.horizon - self.n_obs_steps + 1))

    @property
    def image_preprocessing(self) -> ImagePreprocessing:
        return ImagePreprocessing(self.resize_images, self.crop_images, self.color_jitter)

    @property
    def denoising(self) -> DenoisingSettings:
        return DenoisingSettings(
            objective=self.objective, num_train_timesteps=self.num_train_timesteps,
            num_inference_steps=self.num_inference_steps, inference_scheduler=self.inference_scheduler,
            beta_schedule=self.beta_schedule, beta_start=self.beta_start, beta_end=self.beta_end,
            prediction_type=self.prediction_type, clip_sample=self.clip_sample,
            clip_sample_range=self.clip_sample_range)

    def training_preset(self) -> TrainingPreset:
        return TrainingPreset(steps=self.training_steps, batch_size=self.batch_size, lr=self.optimizer_lr,
                              weight_decay=self.optimizer_weight_decay, grad_clip_norm=self.grad_clip_norm,
                              scheduler=self.scheduler_name, warmup_steps=self.scheduler_warmup_steps,
                              ema_decay=self.ema_decay)

    def pretrained_weights(self) -> list[str]:
        return [self.pretrained_backbone_weights] if self.pretrained_backbone_weights and self.image_features else []

    @classmethod
    def paper(cls, **overrides: Any) -> DiffusionConfig:
        """The paper's CNN setting (the class defaults), for a GPU."""
        return cls(**overrides)

    @classmethod
    def cpu(cls, **overrides: Any) -> DiffusionConfig:
        """CPU preset: 72x96 images cropped to 64x88, quarter-width ResNet-18 cut after stage 3 (a 4x6
        keypoint grid), U-Net (64, 128, 256), horizon 32 (about 1 s at 30 fps) of which 16 run, batch 32,
        EMA 0.995, and the network predicting the clean chunk (`sample`) instead of the noise.

        The paper's 16/8 horizon was set at 10 Hz; at 30 fps the same 1.6 s / 0.8 s is about 48/24, and
        32/16 keeps the U-Net's time axis short on a CPU. Predicting the sample learns far faster in the few
        thousand steps a CPU affords: a tiny policy overfitting one episode replays it within 0.022 rad
        after 600 steps that way, against 0.30 rad predicting the noise (0.14 with flow matching)."""
        preset: dict[str, Any] = dict(
            horizon=32, n_action_steps=16, resize_images=[72, 96], crop_images=[64, 88], backbone_width=16,
            backbone_stages=3, down_dims=[64, 128, 256], diffusion_step_embed_dim=64, batch_size=32,
            training_steps=6_000, ema_decay=0.995, prediction_type='sample')
        return cls(**{**preset, **overrides})

    @classmethod
    def tiny(cls, **overrides: Any) -> DiffusionConfig:
        """Seconds-scale preset for tests and smoke runs (width-4 encoders, U-Net (16, 32), horizon 8,
        predicting the sample as the cpu preset does)."""
        preset: dict[str, Any] = dict(
            horizon=8, n_action_steps=4, resize_images=None, crop_images=None, backbone_width=4, backbone_stages=2,
            spatial_softmax_num_keypoints=4, down_dims=[16, 32], kernel_size=3, n_groups=4,
            diffusion_step_embed_dim=16, batch_size=8, training_steps=300, optimizer_lr=1e-3, ema_decay=None,
            scheduler_warmup_steps=0, prediction_type='sample')
        return cls(**{**preset, **overrides})
