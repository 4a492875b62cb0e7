"""Diffusion Policy (Chi et al. 2023, CNN variant), written for dojo in torch; schedulers from diffusers."""
from dojo_core.policies.diffusion.config import DiffusionConfig
from dojo_core.policies.diffusion.policy import DiffusionPolicy

__all__ = ['DiffusionConfig', 'DiffusionPolicy']
