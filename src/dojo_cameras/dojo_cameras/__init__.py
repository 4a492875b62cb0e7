"""dojo_cameras: ROS 2 camera driver: OpenCV capture publishing image_raw and camera_info."""
