"""OpenCV perception: colour boxes and ArUco markers from RGB + depth + intrinsics + pose.

ROS-free; the skills node feeds it camera frames and the odometry pose, never ground truth.
"""

from codeact_robot.perception.camera import CameraMount, intrinsics, intrinsics_from_fovy
from codeact_robot.perception.detector import BoxDetector, BoxObservation, PerceptionConfig

__all__ = [
    'BoxDetector', 'BoxObservation', 'CameraMount', 'PerceptionConfig', 'intrinsics',
    'intrinsics_from_fovy',
]
