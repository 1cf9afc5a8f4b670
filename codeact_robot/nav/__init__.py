"""Navigation: SE(2) geometry, grid A* planner and pure-pursuit path follower (ROS-free)."""
