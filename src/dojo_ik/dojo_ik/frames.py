"""Target poses into the base frame, without tf2: the base frame itself, or static transforms
given as parameters.

dojo runs where tf2 is not installed (PyPI-only ROS), so a pose in a frame the node does not know
is refused with its reason instead of being guessed at. Frames that are fixed relative to the base
(a table, a camera mount) are configured as strings `"<frame> x y z roll pitch yaw"`: the pose of
that frame in the base frame, in metres and radians, roll-pitch-yaw about fixed axes as in a URDF
`<origin>` and `static_transform_publisher`.
"""
from __future__ import annotations

import numpy as np
import pinocchio as pin


class TargetError(ValueError):
    """A target that cannot be used; `reason` is a stable key for diagnostics counters."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def parse_static_frames(entries: list[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """`["frame x y z roll pitch yaw", ...]` -> {frame: (translation, rotation matrix)} in the base
    frame; ValueError naming the entry when one is malformed or a frame is given twice."""
    frames: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for entry in entries:
        parts = entry.split()
        try:
            values = np.array([float(v) for v in parts[1:]])
        except ValueError:
            values = np.array([])
        if len(parts) != 7 or len(values) != 6 or not np.all(np.isfinite(values)):
            raise ValueError(f'static frame {entry!r} must be "<frame> x y z roll pitch yaw" (m, rad)')
        if parts[0] in frames:
            raise ValueError(f'static frame {parts[0]!r} is given more than once')
        frames[parts[0]] = (values[:3], pin.rpy.rpyToMatrix(*values[3:]))
    return frames


class TargetFrames:
    """Turns a PoseStamped into (position, rotation matrix) in `base_frame`.

    An empty frame_id means the base frame (as sim_node reads sim/set_object_pose).
    """

    def __init__(self, base_frame: str, static_frames: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        self.base_frame = base_frame
        self.static_frames = dict(static_frames)

    def to_base(self, msg) -> tuple[np.ndarray, np.ndarray]:
        """Position (m) and rotation of `msg` (geometry_msgs/PoseStamped) in the base frame;
        raises TargetError (reason non_finite, bad_quaternion or unknown_frame)."""
        p, o = msg.pose.position, msg.pose.orientation
        position = np.array([p.x, p.y, p.z], dtype=float)
        quaternion = np.array([o.w, o.x, o.y, o.z], dtype=float)
        if not (np.all(np.isfinite(position)) and np.all(np.isfinite(quaternion))):
            raise TargetError('non_finite', f'pose has NaN or inf values: position {position.tolist()}, '
                                            f'quaternion (w, x, y, z) {quaternion.tolist()}')
        norm = float(np.linalg.norm(quaternion))
        if norm < 1e-6:
            raise TargetError('bad_quaternion', 'pose orientation is a zero quaternion')
        rotation = pin.Quaternion(*(quaternion / norm)).toRotationMatrix()
        frame = msg.header.frame_id
        if frame in ('', self.base_frame):
            return position, rotation
        if frame not in self.static_frames:
            known = [self.base_frame, *self.static_frames]
            raise TargetError('unknown_frame', f'pose is in frame {frame!r}; this node takes poses in {known} '
                                               '(no tf2: add a static transform to the target_frames parameter)')
        translation, frame_rotation = self.static_frames[frame]
        return translation + frame_rotation @ position, frame_rotation @ rotation
