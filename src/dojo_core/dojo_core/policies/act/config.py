"""ACT hyperparameters: the paper-sized default and a CPU-sized preset.

Defaults follow the ACT paper as LeRobot trains it (dim 512, 8 heads, 4 encoder / 1 decoder
layers, feed-forward 3200, chunk 100 executed whole, ImageNet ResNet-18 with frozen BatchNorm,
latent 32, KL weight 10, AdamW lr 1e-5 for all parameters, weight decay 1e-4, grad clip 10,
100k steps of batch 8). `ACTConfig.cpu()` is a preset that trains from scratch on a laptop-class
CPU in minutes to hours; `ACTConfig.tiny()` one for tests. ACT trains on one observation frame
and the `chunk_size` actions from it (the `PolicyConfig` default windows).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from dojo_core.policies.backbone import NORMS
from dojo_core.policies.config import PolicyConfig
from dojo_core.policies.features import FeatureType
from dojo_core.policies.normalize import NormMode
from dojo_core.policies.preprocessing import ImagePreprocessing
from dojo_core.policies.trainable import SCHEDULERS, TrainingPreset

PRETRAINED_RESNET18 = 'timm/resnet18.tv_in1k'  # torchvision's IMAGENET1K_V1 weights, as model.safetensors


@dataclass
class ACTConfig(PolicyConfig):
    """Action Chunking Transformer (Zhao et al. 2023): CVAE-trained DETR-style chunk predictor."""

    type: ClassVar[str] = 'act'
    presets: ClassVar[tuple[str, ...]] = ('default', 'cpu', 'tiny')

    normalization_mapping: dict[str, str] = field(default_factory=lambda: {
        FeatureType.VISUAL.value: NormMode.MEAN_STD.value,
        FeatureType.STATE.value: NormMode.MEAN_STD.value,
        FeatureType.ENV.value: NormMode.MEAN_STD.value,
        FeatureType.ACTION.value: NormMode.MEAN_STD.value,
    }, metadata={'description': 'Normalisation per feature kind; images MEAN_STD with ImageNet stats.'})
    optimizer_lr: float = field(default=1e-5, metadata={'description': 'AdamW learning rate preset.'})
    optimizer_lr_backbone: float = field(default=1e-5, metadata={
        'description': 'Learning rate preset of the vision backbone parameters.'})
    optimizer_weight_decay: float = field(default=1e-4, metadata={'description': 'AdamW weight decay preset.'})
    grad_clip_norm: float = field(default=10.0, metadata={'description': 'Gradient norm clipping preset.'})
    training_steps: int = field(default=100_000, metadata={
        'description': 'Training steps of the preset (dojo train --steps overrides).', 'range': (1, 10**9)})
    scheduler_name: str = field(default='constant', metadata={
        'description': 'Learning-rate schedule after the warm-up: constant (the ACT recipe) or cosine (decay to 0 '
                       'at training_steps).'})
    scheduler_warmup_steps: int = field(default=0, metadata={
        'description': 'Linear learning-rate warm-up steps.', 'range': (0, 10**9)})

    resize_images: list[int] | None = field(default=None, metadata={
        'description': 'Resize camera images to [height, width] inside the policy before the backbone '
                       '(in training and inference alike); None keeps the recorded size.'})
    crop_images: list[int] | None = field(default=None, metadata={
        'description': 'Crop the (resized) images to [height, width]: at a random place in training (shift '
                       'augmentation), centred in inference; None = no crop.'})
    color_jitter: float = field(default=0.0, metadata={
        'description': 'Training-time augmentation: scale brightness and contrast by factors in [1 - j, 1 + j].',
        'range': (0.0, 0.99)})
    backbone_width: int = field(default=64, metadata={
        'description': 'Channels of the first ResNet-18 stage (64 = standard; 16/32 = slim, from scratch).',
        'range': (4, 256)})
    backbone_norm: str = field(default='frozen_batch_norm', metadata={
        'description': f'Normalisation layers of the backbone, one of {NORMS}.'})
    pretrained_backbone_weights: str | None = field(default=PRETRAINED_RESNET18, metadata={
        'description': 'torchvision-layout resnet18 weights: local .safetensors/.pth file or dir, or Hub '
                       'repo id (owner/name[/file]); None trains the backbone from scratch.'})

    dim_model: int = field(default=512, metadata={'description': 'Transformer width.', 'range': (8, 4096)})
    n_heads: int = field(default=8, metadata={'description': 'Attention heads.', 'range': (1, 64)})
    dim_feedforward: int = field(default=3200, metadata={'description': 'Feed-forward width.', 'range': (8, 16384)})
    feedforward_activation: str = field(default='relu', metadata={'description': 'relu or gelu.'})
    n_encoder_layers: int = field(default=4, metadata={'description': 'Encoder layers.', 'range': (1, 32)})
    n_decoder_layers: int = field(default=1, metadata={
        'description': 'Decoder layers (the original ACT code builds 7 but only the first is used).',
        'range': (1, 32)})
    pre_norm: bool = field(default=False, metadata={'description': 'LayerNorm before (True) or after sublayers.'})
    dropout: float = field(default=0.1, metadata={'description': 'Dropout in the transformer.', 'range': (0.0, 0.9)})

    use_vae: bool = field(default=True, metadata={'description': 'Train with the CVAE latent (else latent = 0).'})
    latent_dim: int = field(default=32, metadata={'description': 'CVAE latent size.', 'range': (1, 1024)})
    n_vae_encoder_layers: int = field(default=4, metadata={'description': 'CVAE encoder layers.', 'range': (1, 32)})
    kl_weight: float = field(default=10.0, metadata={'description': 'Weight of the KL term in the loss.'})

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dim_model % self.n_heads:
            raise ValueError(f'dim_model ({self.dim_model}) must be a multiple of n_heads ({self.n_heads})')
        if self.dim_model % 4:
            raise ValueError(f'dim_model ({self.dim_model}) must be a multiple of 4 (2D position embeddings)')
        if self.backbone_norm not in NORMS:
            raise ValueError(f'backbone_norm must be one of {NORMS}, got {self.backbone_norm!r}')
        if self.scheduler_name not in SCHEDULERS:
            raise ValueError(f'scheduler_name must be one of {SCHEDULERS}, got {self.scheduler_name!r}')
        if self.feedforward_activation not in ('relu', 'gelu'):
            raise ValueError(f'feedforward_activation must be relu or gelu, got {self.feedforward_activation!r}')
        for name in ('resize_images', 'crop_images'):
            size = getattr(self, name)
            if size is not None:
                size = [int(s) for s in size]
                if len(size) != 2 or min(size) < 1:
                    raise ValueError(f'{name} must be [height, width], got {size}')
                setattr(self, name, size)
        self.image_preprocessing  # noqa: B018 - ImagePreprocessing validates color_jitter

    @property
    def image_preprocessing(self) -> ImagePreprocessing:
        return ImagePreprocessing(self.resize_images, self.crop_images, self.color_jitter)

    def training_preset(self) -> TrainingPreset:
        """Batch 8 and this config's optimiser settings and schedule (LeRobot's ACT recipe by default:
        100k steps at a constant lr)."""
        return TrainingPreset(steps=self.training_steps, batch_size=8, lr=self.optimizer_lr,
                              backbone_lr=self.optimizer_lr_backbone, weight_decay=self.optimizer_weight_decay,
                              grad_clip_norm=self.grad_clip_norm, scheduler=self.scheduler_name,
                              warmup_steps=self.scheduler_warmup_steps)

    def pretrained_weights(self) -> list[str]:
        """The ImageNet backbone, when there are cameras to look at and the config starts from it."""
        return [self.pretrained_backbone_weights] if self.pretrained_backbone_weights and self.image_features else []

    @classmethod
    def cpu(cls, **overrides: Any) -> ACTConfig:
        """CPU preset: dim 256, 3 encoder layers, half-width ResNet-18 with GroupNorm trained from
        scratch on 96x128 images, chunk 50, lr 1e-4 (no pretrained backbone, hence the higher lr) with a
        500-step warm-up and cosine decay over 14k steps (about 35 min on 2 cores), no dropout.

        Dropout costs a sixth of a CPU training step (drawing its masks) and, with a few epochs of
        deterministic expert data, regularises nothing that needs it; the cosine decay lets the last
        steps settle the fine positioning a constant lr keeps shaking (issue 14's ablations measure both)."""
        preset: dict[str, Any] = dict(
            dim_model=256, n_heads=8, dim_feedforward=1024, n_encoder_layers=3, n_decoder_layers=1,
            n_vae_encoder_layers=2, latent_dim=32, chunk_size=50, n_action_steps=50, dropout=0.0,
            backbone_width=32, backbone_norm='group_norm', pretrained_backbone_weights=None,
            resize_images=[96, 128], optimizer_lr=1e-4, optimizer_lr_backbone=1e-4,
            training_steps=14_000, scheduler_name='cosine', scheduler_warmup_steps=500)
        return cls(**{**preset, **overrides})

    @classmethod
    def tiny(cls, **overrides: Any) -> ACTConfig:
        """Seconds-scale preset for tests and smoke runs (dim 32, one layer each, width-8 backbone, chunk 10)."""
        preset: dict[str, Any] = dict(
            dim_model=32, n_heads=2, dim_feedforward=64, n_encoder_layers=1, n_decoder_layers=1,
            n_vae_encoder_layers=1, latent_dim=8, chunk_size=10, n_action_steps=10, dropout=0.0,
            backbone_width=8, backbone_norm='group_norm', pretrained_backbone_weights=None,
            optimizer_lr=1e-3, optimizer_lr_backbone=1e-3)
        return cls(**{**preset, **overrides})
