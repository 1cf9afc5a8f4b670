"""Axis-aligned rectangles and sensor mounts: the shapes the world description is made of."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Rect:
    """An axis-aligned rectangle in the map frame (metres)."""

    xmin: float
    ymin: float
    xmax: float
    ymax: float

    def __post_init__(self) -> None:
        if not (self.xmax > self.xmin and self.ymax > self.ymin):
            raise ValueError(f'empty rectangle {self.as_tuple()}')

    @classmethod
    def from_list(cls, values: list[float] | tuple[float, ...]) -> Rect:
        """Build from [xmin, ymin, xmax, ymax]."""
        if len(values) != 4:
            raise ValueError(f'a rectangle needs 4 numbers [xmin, ymin, xmax, ymax], got {values}')
        return cls(*(float(v) for v in values))

    @classmethod
    def around(cls, x: float, y: float, size_x: float, size_y: float) -> Rect:
        """Build the rectangle of size (size_x, size_y) centred on (x, y)."""
        return cls(x - size_x / 2, y - size_y / 2, x + size_x / 2, y + size_y / 2)

    def as_tuple(self) -> tuple[float, float, float, float]:
        """Return (xmin, ymin, xmax, ymax)."""
        return (self.xmin, self.ymin, self.xmax, self.ymax)

    @property
    def center(self) -> tuple[float, float]:
        """Centre (x, y)."""
        return ((self.xmin + self.xmax) / 2, (self.ymin + self.ymax) / 2)

    @property
    def size(self) -> tuple[float, float]:
        """Extent (x, y)."""
        return (self.xmax - self.xmin, self.ymax - self.ymin)

    def contains(self, x: float, y: float, margin: float = 0.0) -> bool:
        """Return True when (x, y) lies inside the rectangle grown by ``margin``."""
        return (self.xmin - margin <= x <= self.xmax + margin
                and self.ymin - margin <= y <= self.ymax + margin)

    def inflated(self, margin: float) -> Rect:
        """Return the rectangle grown by ``margin`` on every side."""
        return Rect(self.xmin - margin, self.ymin - margin, self.xmax + margin,
                    self.ymax + margin)

    def intersects(self, other: Rect) -> bool:
        """Return True when the rectangles overlap (touching edges do not count)."""
        return (self.xmin < other.xmax and other.xmin < self.xmax
                and self.ymin < other.ymax and other.ymin < self.ymax)


@dataclass(frozen=True)
class Mount:
    """A sensor pose relative to base_link: x forward, y left, z up; pitch > 0 looks down."""

    x: float
    y: float
    z: float
    roll: float = 0.0
    pitch: float = 0.0
    yaw: float = 0.0

    def quaternion(self) -> tuple[float, float, float, float]:
        """Return the rotation as a (w, x, y, z) quaternion (intrinsic yaw, pitch, roll)."""
        cr, sr = math.cos(self.roll / 2), math.sin(self.roll / 2)
        cp, sp = math.cos(self.pitch / 2), math.sin(self.pitch / 2)
        cy, sy = math.cos(self.yaw / 2), math.sin(self.yaw / 2)
        return (cr * cp * cy + sr * sp * sy,
                sr * cp * cy - cr * sp * sy,
                cr * sp * cy + sr * cp * sy,
                cr * cp * sy - sr * sp * cy)
