"""Serving a policy: the one controller behind policy_node and every ROS-free rollout.

`PolicyController` turns observations into safe joint commands (asynchronous inference, chunk
execution, holds, the command limiter) with `ServingConfig`'s settings; `bind_features` matches a
checkpoint to a feature map, `resolve_feature_map` finds that map in the checkpoint (its serving
contract) or checks a user's map against it.
"""
from dojo_core.serving.binding import FeatureBinding, bind_features
from dojo_core.serving.config import ServingConfig
from dojo_core.serving.contract import Contract, checkpoint_contract, contract_mismatches, resolve_feature_map
from dojo_core.serving.controller import INFERENCE_ERROR, NON_FINITE, WAITING, PolicyController, Tick
from dojo_core.serving.inference import InferenceWorker, SimulatedLatency
from dojo_core.serving.observations import ObservationBuffer

__all__ = [
    'INFERENCE_ERROR', 'NON_FINITE', 'WAITING', 'Contract', 'FeatureBinding', 'InferenceWorker', 'ObservationBuffer',
    'PolicyController', 'ServingConfig', 'SimulatedLatency', 'Tick', 'bind_features', 'checkpoint_contract',
    'contract_mismatches', 'resolve_feature_map',
]
