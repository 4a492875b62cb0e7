"""Feature mapping and frame synchronisation shared by the recorder, the bag converter and the policy node.

`feature_map` (config/features/*.yaml) says which topic fills which LeRobot feature;
`feature_spec` turns a message (rclpy or rosbags, read by attribute only) into a feature's value;
`assembler` samples the streams at the dataset rate into frames; `report` says how well that went;
`stamps` is the rule every node that orders messages by stamp applies (future stamps, resets, a
clock that jumps back).
dojo_ros re-uses `image` and `joint_state` for its rclpy-side helpers.
"""
from dojo_core.sync.assembler import Frame, FrameAssembler
from dojo_core.sync.errors import ExtractionError, FeatureMapError
from dojo_core.sync.feature_map import FeatureMap, feature_map_path, load_feature_map
from dojo_core.sync.feature_spec import MESSAGE_TYPES, FeatureSpec, task_text
from dojo_core.sync.image import ImageConversionError, image_to_numpy, image_to_rgb
from dojo_core.sync.joint_state import JointStateError, joint_state_to_vector, unknown_joints
from dojo_core.sync.report import StreamReport, SyncReport
from dojo_core.sync.stamps import ClockWatch, StampError, StampGuard
from dojo_core.sync.units import JointUnits

__all__ = [
    'MESSAGE_TYPES', 'ClockWatch', 'ExtractionError', 'FeatureMap', 'FeatureMapError', 'FeatureSpec', 'Frame',
    'FrameAssembler', 'ImageConversionError', 'JointStateError', 'JointUnits', 'StampError', 'StampGuard',
    'StreamReport', 'SyncReport', 'feature_map_path', 'image_to_numpy', 'image_to_rgb', 'joint_state_to_vector',
    'load_feature_map', 'task_text', 'unknown_joints',
]
