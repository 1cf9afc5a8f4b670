"""The robot's frames and URDF from the world description: ROS-free, checked against the
perception code's own camera geometry (which the simulator's camera is tested against)."""

from __future__ import annotations

import math
import random
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from codeact_robot.perception.camera import OPTICAL_TO_BODY, CameraMount, rotation_rpy
from codeact_robot.world import load_world
from codeact_robot.world.frames import (
    BASE_FRAME,
    CAMERA_FRAME,
    CAMERA_OPTICAL_FRAME,
    LASER_FRAME,
    OPTICAL_ROTATION,
    compose2d,
    fixed_frames,
    inverse2d,
    map_to_odom,
)
from codeact_robot.world.urdf import build_urdf

WORLD = load_world('warehouse')


def quaternion_matrix(w: float, x: float, y: float, z: float) -> np.ndarray:
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def test_the_optical_frame_is_the_one_perception_projects_with():
    # camera_link -> camera_optical_frame as published must be perception's OPTICAL_TO_BODY,
    # or RViz would draw the camera's points somewhere else than the robot sees them.
    assert np.allclose(quaternion_matrix(*OPTICAL_ROTATION.quaternion()), OPTICAL_TO_BODY)
    mount = WORLD.robot.camera.mount
    body = quaternion_matrix(*mount.quaternion())
    assert np.allclose(body, CameraMount.from_any(mount).rotation())
    assert np.allclose(body, rotation_rpy(mount.roll, mount.pitch, mount.yaw))


def test_fixed_frames_form_one_tree_under_base_link():
    frames = fixed_frames(WORLD.robot)
    assert [(f.parent, f.child) for f in frames] == [
        (BASE_FRAME, LASER_FRAME), (BASE_FRAME, CAMERA_FRAME),
        (CAMERA_FRAME, CAMERA_OPTICAL_FRAME)]
    laser = frames[0].mount
    assert (laser.x, laser.y, laser.z) == (WORLD.robot.lidar.mount.x, WORLD.robot.lidar.mount.y,
                                           WORLD.robot.lidar.mount.z)


def test_map_to_odom_places_the_odometry_pose_at_the_map_pose():
    rng = random.Random(3)
    for _ in range(200):
        map_pose = (rng.uniform(-10, 10), rng.uniform(-10, 10), rng.uniform(-math.pi, math.pi))
        odom_pose = (rng.uniform(-10, 10), rng.uniform(-10, 10), rng.uniform(-math.pi, math.pi))
        back = compose2d(map_to_odom(map_pose, odom_pose), odom_pose)
        assert back[:2] == pytest.approx(map_pose[:2], abs=1e-9)
        assert math.remainder(back[2] - map_pose[2], 2 * math.pi) == pytest.approx(0, abs=1e-9)
        identity = compose2d(odom_pose, inverse2d(odom_pose))
        assert identity == pytest.approx((0.0, 0.0, 0.0), abs=1e-9)


def test_the_urdf_has_the_same_frames_and_the_wheel_joints_of_joint_states():
    root = ET.fromstring(build_urdf(WORLD))
    links = {link.get('name') for link in root.iter('link')}
    assert {BASE_FRAME, LASER_FRAME, CAMERA_FRAME, CAMERA_OPTICAL_FRAME} <= links
    joints = {j.get('name'): j for j in root.iter('joint')}
    assert joints['left_wheel_joint'].get('type') == 'continuous'
    assert joints['right_wheel_joint'].get('type') == 'continuous'
    for frame in fixed_frames(WORLD.robot):
        joint = next(j for j in joints.values() if j.find('child').get('link') == frame.child)
        assert joint.get('type') == 'fixed' and joint.find('parent').get('link') == frame.parent
        xyz = [float(v) for v in joint.find('origin').get('xyz').split()]
        rpy = [float(v) for v in joint.find('origin').get('rpy').split()]
        m = frame.mount
        assert xyz == pytest.approx([m.x, m.y, m.z], abs=1e-5)
        assert rpy == pytest.approx([m.roll, m.pitch, m.yaw], abs=1e-5)
    # Every link but the root has exactly one parent joint: a tree.
    children = [j.find('child').get('link') for j in joints.values()]
    assert sorted(children) == sorted(links - {BASE_FRAME})
