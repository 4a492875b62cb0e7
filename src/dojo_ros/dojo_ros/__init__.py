"""dojo_ros: rclpy helpers shared by every dojo node (msg<->numpy, QoS, parameters, diagnostics)."""
