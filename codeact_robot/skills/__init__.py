"""Skills the skills node serves: motion (move_to, drive), perceive and grasp (ROS-free cores)."""
