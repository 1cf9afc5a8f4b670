"""Watching the robot: the live Foxglove view, MCAP recordings and their replay (ROS-free)."""
