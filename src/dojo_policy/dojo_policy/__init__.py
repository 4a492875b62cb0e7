"""dojo_policy: ROS 2 lifecycle node serving learned policies (ACT now; Diffusion and VLA later) with hard safety limits, and the dojo eval harness."""
