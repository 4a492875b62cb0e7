"""ACT (Action Chunking with Transformers), written for dojo in torch."""
from dojo_core.policies.act.config import PRETRAINED_RESNET18, ACTConfig
from dojo_core.policies.act.policy import ACTPolicy

__all__ = ['ACTConfig', 'ACTPolicy', 'PRETRAINED_RESNET18']
