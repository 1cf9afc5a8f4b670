"""Scan matching against the static map: corrects the drift of wheel odometry.

The map pose is ``correction * initial_pose * odom``. Each lidar sweep is aligned with a signed
distance field of the lidar-visible static obstacles (Gauss-Newton with a truncated, robust
residual, so people, pallets and boxes are ignored as outliers); a good match nudges the
correction towards it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from codeact_robot.nav.geometry import Pose2, compose, wrap_angle
from codeact_robot.world.grid import OccupancyGrid


def invert(p: Pose2) -> Pose2:
    """Return the inverse SE(2) transform."""
    c, s = math.cos(p[2]), math.sin(p[2])
    return (-(c * p[0] + s * p[1]), -(-s * p[0] + c * p[1]), -p[2])


@dataclass(frozen=True)
class Match:
    """Result of one alignment: the pose, how many points fit, their RMS error (m)."""

    pose: Pose2
    inliers: int
    inlier_ratio: float
    rms: float
    ok: bool


class ScanMatcher:
    """Align base-frame lidar points with a signed distance field of the map."""

    def __init__(self, grid: OccupancyGrid, inlier_distance: float = 0.15,
                 iterations: int = 12, min_inliers: int = 60, min_ratio: float = 0.4,
                 max_rms: float = 0.06) -> None:
        self.grid = grid
        self.inlier_distance = inlier_distance
        self.iterations = iterations
        self.min_inliers = min_inliers
        self.min_ratio = min_ratio
        self.max_rms = max_rms
        occ = grid.occupied.astype(np.uint8)
        outside = cv2.distanceTransform(1 - occ, cv2.DIST_L2, 5)
        inside = cv2.distanceTransform(occ, cv2.DIST_L2, 5)
        # Cell centres: distance to the surface is about half a cell less than between centres.
        res = grid.resolution
        sdf = np.where(occ > 0, -(inside - 0.5), outside - 0.5) * res
        self.sdf = sdf.astype(np.float64)
        self.grad_y, self.grad_x = np.gradient(self.sdf, res)

    def _sample(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Bilinear SDF value and gradient at map points; valid = inside the grid."""
        g = self.grid
        fx = (pts[:, 0] - g.origin[0]) / g.resolution - 0.5
        fy = (pts[:, 1] - g.origin[1]) / g.resolution - 0.5
        rows, cols = self.sdf.shape
        valid = (fx >= 0) & (fy >= 0) & (fx < cols - 1) & (fy < rows - 1)
        fx, fy = np.where(valid, fx, 0.0), np.where(valid, fy, 0.0)
        x0, y0 = np.floor(fx).astype(int), np.floor(fy).astype(int)
        ax, ay = fx - x0, fy - y0

        def interp(a: np.ndarray) -> np.ndarray:
            return ((1 - ax) * (1 - ay) * a[y0, x0] + ax * (1 - ay) * a[y0, x0 + 1]
                    + (1 - ax) * ay * a[y0 + 1, x0] + ax * ay * a[y0 + 1, x0 + 1])

        return interp(self.sdf), interp(self.grad_x), interp(self.grad_y), valid

    def match(self, guess: Pose2, points: np.ndarray) -> Match:
        """Return the pose near ``guess`` that best aligns ``points`` (N x 2, base frame)."""
        x, y, th = guess
        if len(points) < self.min_inliers:
            return Match(guess, 0, 0.0, math.inf, False)
        bx, by = points[:, 0], points[:, 1]
        inl = np.zeros(len(points), dtype=bool)
        d = np.zeros(len(points))
        for _ in range(self.iterations):
            c, s = math.cos(th), math.sin(th)
            mp = np.column_stack([x + c * bx - s * by, y + s * bx + c * by])
            d, gx, gy, valid = self._sample(mp)
            inl = valid & (np.abs(d) < self.inlier_distance)
            if inl.sum() < self.min_inliers:
                return Match(guess, int(inl.sum()), float(inl.mean()), math.inf, False)
            dth = gx * (-s * bx - c * by) + gy * (c * bx - s * by)
            jac = np.column_stack([gx, gy, dth])[inl]
            r = d[inl]
            h = jac.T @ jac + 1e-3 * np.eye(3)
            step = -np.linalg.solve(h, jac.T @ r)
            step[:2] = np.clip(step[:2], -0.1, 0.1)
            step[2] = float(np.clip(step[2], -0.05, 0.05))
            x, y, th = x + step[0], y + step[1], wrap_angle(th + step[2])
            if abs(step[0]) + abs(step[1]) < 1e-4 and abs(step[2]) < 1e-4:
                break
        rms = float(np.sqrt(np.mean(d[inl] ** 2))) if inl.any() else math.inf
        ratio = float(inl.mean())
        ok = inl.sum() >= self.min_inliers and ratio >= self.min_ratio and rms <= self.max_rms
        return Match((x, y, th), int(inl.sum()), ratio, rms, ok)


class Localizer:
    """Keep the map <- odom correction from scan matches (smoothed, jump-limited)."""

    def __init__(self, matcher: ScanMatcher, initial: Pose2, gain: float = 0.5,
                 max_jump: float = 0.5, max_turn: float = 0.3) -> None:
        self.matcher = matcher
        self.initial = initial
        self.gain = gain
        self.max_jump = max_jump
        self.max_turn = max_turn
        self.correction: Pose2 = (0.0, 0.0, 0.0)
        self.last: Match | None = None

    def map_pose(self, odom: Pose2) -> Pose2:
        """Return the map pose of an odom pose."""
        return compose(self.correction, compose(self.initial, odom))

    def update(self, odom_at_scan: Pose2, points: np.ndarray) -> Match:
        """Match a sweep taken at ``odom_at_scan``; move the correction towards a good match."""
        dead_reckoned = compose(self.initial, odom_at_scan)
        guess = compose(self.correction, dead_reckoned)
        m = self.matcher.match(guess, points)
        self.last = m
        if not m.ok:
            return m
        jump = math.dist(m.pose[:2], guess[:2])
        turn = abs(wrap_angle(m.pose[2] - guess[2]))
        if jump > self.max_jump or turn > self.max_turn:
            return Match(m.pose, m.inliers, m.inlier_ratio, m.rms, False)
        target = compose(m.pose, invert(dead_reckoned))
        c = self.correction
        k = self.gain
        self.correction = (c[0] + k * (target[0] - c[0]), c[1] + k * (target[1] - c[1]),
                           wrap_angle(c[2] + k * wrap_angle(target[2] - c[2])))
        return m
