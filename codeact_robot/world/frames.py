"""The robot's coordinate frames (REP 105), generated from the world description's robot block.

    map -> odom -> base_link -> laser_link
                             -> camera_link -> camera_optical_frame

``map -> odom`` is the localizer's correction (the skills node), ``odom -> base_link`` wheel
odometry (the simulator, or a real robot's base driver), and the rest are fixed by the robot
block: the simulator publishes them on /tf_static, and the URDF (``world/urdf.py``) carries the
same fixed joints for robot_state_publisher on a ROS installation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from codeact_robot.world.geometry import Mount

MAP_FRAME, ODOM_FRAME, BASE_FRAME = 'map', 'odom', 'base_link'
LASER_FRAME, CAMERA_FRAME, CAMERA_OPTICAL_FRAME = 'laser_link', 'camera_link', \
    'camera_optical_frame'

# Camera body (x forward, y left, z up) to optical (x right, y down, z forward), REP 103.
OPTICAL_ROTATION = Mount(0.0, 0.0, 0.0, roll=-math.pi / 2, pitch=0.0, yaw=-math.pi / 2)

Pose2D = tuple[float, float, float]  # x, y, yaw in a parent frame


@dataclass(frozen=True)
class FixedFrame:
    """A frame fixed to its parent: ``mount`` is the child's pose in the parent frame."""

    parent: str
    child: str
    mount: Mount


def fixed_frames(robot: object) -> tuple[FixedFrame, ...]:
    """Return the sensor frames of a robot block (``world.RobotSpec``), parents first."""
    camera, lidar = robot.camera.mount, robot.lidar.mount  # type: ignore[attr-defined]
    return (FixedFrame(BASE_FRAME, LASER_FRAME, lidar),
            FixedFrame(BASE_FRAME, CAMERA_FRAME, camera),
            FixedFrame(CAMERA_FRAME, CAMERA_OPTICAL_FRAME, OPTICAL_ROTATION))


def compose2d(a: Pose2D, b: Pose2D) -> Pose2D:
    """Return a * b: the pose ``b`` (given in frame ``a``) in ``a``'s parent frame."""
    c, s = math.cos(a[2]), math.sin(a[2])
    return (a[0] + c * b[0] - s * b[1], a[1] + s * b[0] + c * b[1],
            math.remainder(a[2] + b[2], 2 * math.pi))


def inverse2d(a: Pose2D) -> Pose2D:
    """Return the inverse transform of ``a``."""
    c, s = math.cos(a[2]), math.sin(a[2])
    return (-c * a[0] - s * a[1], s * a[0] - c * a[1], -a[2])


def map_to_odom(map_pose: Pose2D, odom_pose: Pose2D) -> Pose2D:
    """Return the ``map -> odom`` transform that puts base_link's ``odom_pose`` at ``map_pose``.

    map_T_odom = map_T_base * (odom_T_base)^-1, so that map_T_odom * odom_T_base = map_T_base.
    """
    return compose2d(map_pose, inverse2d(odom_pose))
