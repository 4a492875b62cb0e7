"""message_class: feature-map type names -> rclpy classes, with clear errors for bad names."""
from __future__ import annotations

import pytest
from sensor_msgs.msg import Image, JointState

from dojo_ros.messages import message_class


def test_known_types_resolve_to_their_rclpy_classes():
    assert message_class('sensor_msgs/msg/JointState') is JointState
    assert message_class('sensor_msgs/msg/Image') is Image


@pytest.mark.parametrize('name, says', [
    ('sensor_msgs/JointState', "must look like 'pkg/msg/Type'"),
    ('sensor_msgs/srv/JointState', "must look like 'pkg/msg/Type'"),
    ('no_such_pkg/msg/Thing', 'is not installed'),
    ('sensor_msgs/msg/NoSuchType', 'is not installed'),
])
def test_bad_names_are_value_errors_that_say_why(name, says):
    with pytest.raises(ValueError, match=says):
        message_class(name)
