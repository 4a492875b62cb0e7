"""Episode recording shared by the live recorder node and the rosbag2 converter.

Both turn ROS messages (rclpy or rosbags objects, read by attribute) into LeRobot episodes
through the same objects, so a session recorded live and the bag of the same session give the
same frames: `features` loads the feature map (with the node's or the command line's
overrides), `dataset` creates or resumes the dataset it describes, `episode` assembles one
episode's frames with dojo_core.sync, and `session` runs episodes into a DatasetWriter confined
to one thread.
"""
from dojo_core.recording.dataset import DatasetSettings, RecordingError, default_root, open_dataset
from dojo_core.recording.episode import EpisodeRecorder, EpisodeResult, HeldMessages
from dojo_core.recording.features import dataset_units, load_features
from dojo_core.recording.session import RecordingSession, SessionStatus

__all__ = [
    'DatasetSettings', 'EpisodeRecorder', 'EpisodeResult', 'HeldMessages', 'RecordingError', 'RecordingSession',
    'SessionStatus', 'dataset_units', 'default_root', 'load_features', 'open_dataset',
]
