"""rosbag2 -> LeRobot without ROS: read bags with the PyPI `rosbags` package, record them with dojo_core.recording."""
from dojo_core.rosbag.bag import BagError, BagSource, resolve_topic
from dojo_core.rosbag.convert import ConversionReport, convert
from dojo_core.rosbag.markers import MARKER_TYPES, MarkerAction, marker_action

__all__ = ['MARKER_TYPES', 'BagError', 'BagSource', 'ConversionReport', 'MarkerAction', 'convert',
           'marker_action', 'resolve_topic']
