"""Pinhole camera geometry: pixels + depth -> camera -> base_link -> map.

Frames follow REP 103/105: the optical frame has x right, y down, z forward (what a depth image
measures along); the camera body and base_link frames have x forward, y left, z up. The camera
mount is the pose of the camera body frame in base_link; the robot pose places base_link in map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from codeact_robot.api.types import Pose

# Optical (x right, y down, z forward) -> body (x forward, y left, z up), as columns of R.
OPTICAL_TO_BODY = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def rotation_rpy(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """Return the rotation matrix R = Rz(yaw) @ Ry(pitch) @ Rx(roll) (fixed-axis xyz)."""
    cr, sr = math.cos(roll), math.sin(roll)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cy, sy = math.cos(yaw), math.sin(yaw)
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cr, -sr], [0.0, sr, cr]])
    ry = np.array([[cp, 0.0, sp], [0.0, 1.0, 0.0], [-sp, 0.0, cp]])
    rz = np.array([[cy, -sy, 0.0], [sy, cy, 0.0], [0.0, 0.0, 1.0]])
    return rz @ ry @ rx


@dataclass(frozen=True)
class CameraMount:
    """Pose of the camera body frame in base_link: metres and radians.

    A positive pitch tilts the view down (right-handed rotation about base_link's y axis).
    """

    x: float = 0.0
    y: float = 0.0
    z: float = 0.0
    roll: float = 0.0
    pitch: float = 0.0
    yaw: float = 0.0

    @classmethod
    def from_any(cls, mount: object) -> CameraMount:
        """Build from a CameraMount, a mapping or any object with x/y/z(/roll/pitch/yaw).

        The world description owns the mount; this accepts its type without importing it.
        """
        if isinstance(mount, CameraMount):
            return mount
        if isinstance(mount, dict):
            get = mount.get
        else:
            def get(key: str, default: float | None = None) -> float | None:
                return getattr(mount, key, default)
        xyz = get('xyz', None) or get('position', None)
        rpy = get('rpy', None)
        values = {
            'x': xyz[0] if xyz is not None else get('x', 0.0),
            'y': xyz[1] if xyz is not None else get('y', 0.0),
            'z': xyz[2] if xyz is not None else get('z', 0.0),
            'roll': rpy[0] if rpy is not None else get('roll', 0.0),
            'pitch': rpy[1] if rpy is not None else get('pitch', 0.0),
            'yaw': rpy[2] if rpy is not None else get('yaw', 0.0),
        }
        return cls(**{k: float(v) for k, v in values.items()})

    def rotation(self) -> np.ndarray:
        """Rotation of camera-body vectors into base_link."""
        return rotation_rpy(self.roll, self.pitch, self.yaw)

    def translation(self) -> np.ndarray:
        """Camera position in base_link."""
        return np.array([self.x, self.y, self.z])


def intrinsics(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """Return the 3x3 pinhole matrix K."""
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])


def intrinsics_from_fovy(width: int, height: int, fovy_deg: float) -> np.ndarray:
    """Return K for square pixels and a vertical field of view (as MuJoCo cameras define it)."""
    f = 0.5 * height / math.tan(math.radians(fovy_deg) / 2.0)
    return intrinsics(f, f, (width - 1) / 2.0, (height - 1) / 2.0)


def backproject(us: np.ndarray, vs: np.ndarray, depths: np.ndarray,
                k_matrix: np.ndarray) -> np.ndarray:
    """Turn pixel coordinates and optical-axis depths (m) into Nx3 optical-frame points."""
    fx, fy = k_matrix[0, 0], k_matrix[1, 1]
    cx, cy = k_matrix[0, 2], k_matrix[1, 2]
    us = np.asarray(us, dtype=float)
    vs = np.asarray(vs, dtype=float)
    z = np.asarray(depths, dtype=float)
    return np.stack([(us - cx) * z / fx, (vs - cy) * z / fy, z], axis=-1)


def optical_to_base(points: np.ndarray, mount: CameraMount) -> np.ndarray:
    """Transform Nx3 optical-frame points into base_link."""
    rot = mount.rotation() @ OPTICAL_TO_BODY
    return np.asarray(points, dtype=float) @ rot.T + mount.translation()


def base_to_map(points: np.ndarray, pose: Pose) -> np.ndarray:
    """Transform Nx3 base_link points into the map frame (robot moves in the plane)."""
    rot = rotation_rpy(0.0, 0.0, pose.theta)
    return np.asarray(points, dtype=float) @ rot.T + np.array([pose.x, pose.y, 0.0])


def map_to_base(points: np.ndarray, pose: Pose) -> np.ndarray:
    """Transform Nx3 map-frame points into base_link."""
    rot = rotation_rpy(0.0, 0.0, pose.theta)
    return (np.asarray(points, dtype=float) - np.array([pose.x, pose.y, 0.0])) @ rot


def project(points_base: np.ndarray, mount: CameraMount, k_matrix: np.ndarray) -> np.ndarray:
    """Project Nx3 base_link points to Nx2 pixels (u, v); inverse of backproject+optical_to_base.

    Points behind the camera get NaN.
    """
    rot = mount.rotation() @ OPTICAL_TO_BODY
    optical = (np.asarray(points_base, dtype=float) - mount.translation()) @ rot
    z = optical[:, 2]
    with np.errstate(divide='ignore', invalid='ignore'):
        u = k_matrix[0, 0] * optical[:, 0] / z + k_matrix[0, 2]
        v = k_matrix[1, 1] * optical[:, 1] / z + k_matrix[1, 2]
    uv = np.stack([u, v], axis=-1)
    uv[z <= 0] = np.nan
    return uv
