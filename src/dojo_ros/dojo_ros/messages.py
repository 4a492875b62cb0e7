"""Message classes by their ROS type name, for nodes whose topics come from configuration.

Feature maps (dojo_core.sync) name each topic's type as 'pkg/msg/Type' (the form `ros2 topic
info` prints) and stay ROS-free; the recorder, the policy node and `dojo eval` turn those names
into rclpy classes here, so a wrong name fails the same way everywhere.
"""
from __future__ import annotations

import importlib


def message_class(type_name: str) -> type:
    """The rclpy class of 'pkg/msg/Type', e.g. 'sensor_msgs/msg/JointState'.

    Raises ValueError for a name not of that form, ImportError/AttributeError (as ValueError) when
    the package or type is not installed."""
    parts = type_name.split('/')
    if len(parts) != 3 or parts[1] != 'msg' or not all(parts):
        raise ValueError(f"message type must look like 'pkg/msg/Type', got {type_name!r}")
    package, kind, name = parts
    try:
        return getattr(importlib.import_module(f'{package}.{kind}'), name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f'message type {type_name!r} is not installed: {exc}') from None
