"""Wheel odometry of a differential drive, integrated from wheel joint angles."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class WheelOdometry:
    """Dead reckoning from wheel rotations; starts at (0, 0, 0) like Gazebo's diff-drive plugin."""

    wheel_radius: float
    wheel_separation: float
    x: float = 0.0
    y: float = 0.0
    theta: float = 0.0
    _last: tuple[float, float] | None = None

    def update(self, left_angle: float, right_angle: float) -> None:
        """Advance with the wheels' current joint angles (radians, cumulative)."""
        left_angle, right_angle = float(left_angle), float(right_angle)
        if self._last is None:
            self._last = (left_angle, right_angle)
            return
        dl = (left_angle - self._last[0]) * self.wheel_radius
        dr = (right_angle - self._last[1]) * self.wheel_radius
        self._last = (left_angle, right_angle)
        ds = (dl + dr) / 2
        dth = (dr - dl) / self.wheel_separation
        # Midpoint heading: exact for arcs to second order.
        mid = self.theta + dth / 2
        self.x += ds * math.cos(mid)
        self.y += ds * math.sin(mid)
        self.theta = math.atan2(math.sin(self.theta + dth), math.cos(self.theta + dth))

    def twist(self, left_rate: float, right_rate: float) -> tuple[float, float]:
        """Return (v, w) in the base frame from wheel angular rates (rad/s)."""
        vl, vr = left_rate * self.wheel_radius, right_rate * self.wheel_radius
        return (vl + vr) / 2, (vr - vl) / self.wheel_separation

    def wheel_rates(self, v: float, w: float) -> tuple[float, float]:
        """Return (left, right) wheel rates (rad/s) that realise base velocity (v, w)."""
        half = self.wheel_separation / 2
        return (v - w * half) / self.wheel_radius, (v + w * half) / self.wheel_radius
