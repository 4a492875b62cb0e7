"""dojo_policy: the ROS 2 lifecycle node serving learned policies with hard safety limits, an adapter over
dojo_core.serving; it never depends on the simulator or the IK package."""
