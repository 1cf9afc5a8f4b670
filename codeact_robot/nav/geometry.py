"""SE(2) helpers: angle wrapping, pose composition, quaternion yaw, polyline measures."""

from __future__ import annotations

import math
from collections.abc import Sequence

Point = tuple[float, float]
Pose2 = tuple[float, float, float]


def wrap_angle(angle: float) -> float:
    """Return ``angle`` wrapped to [-pi, pi)."""
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


def compose(a: Pose2, b: Pose2) -> Pose2:
    """Return the pose a * b (b expressed in a's frame, result in a's parent frame)."""
    ax, ay, at = a
    bx, by, bt = b
    c, s = math.cos(at), math.sin(at)
    return (ax + c * bx - s * by, ay + s * bx + c * by, wrap_angle(at + bt))


def to_parent(frame: Pose2, point: Point) -> Point:
    """Express a point given in ``frame``'s coordinates in the parent frame."""
    c, s = math.cos(frame[2]), math.sin(frame[2])
    return (frame[0] + c * point[0] - s * point[1], frame[1] + s * point[0] + c * point[1])


def yaw_from_quaternion(x: float, y: float, z: float, w: float) -> float:
    """Return the yaw (rotation about z) of a unit quaternion."""
    return math.atan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))


def quaternion_from_yaw(yaw: float) -> tuple[float, float, float, float]:
    """Return (x, y, z, w) of a rotation by ``yaw`` about z."""
    return (0.0, 0.0, math.sin(yaw / 2.0), math.cos(yaw / 2.0))


def path_length(points: Sequence[Point]) -> float:
    """Return the length of a polyline."""
    return float(sum(math.dist(points[i], points[i + 1]) for i in range(len(points) - 1)))


def densify(points: Sequence[Point], step: float) -> list[Point]:
    """Return the polyline's points resampled so that consecutive points are <= step apart."""
    if not points:
        return []
    out: list[Point] = [tuple(points[0])]  # type: ignore[list-item]
    for (x0, y0), (x1, y1) in zip(points, points[1:], strict=False):
        n = max(1, math.ceil(math.dist((x0, y0), (x1, y1)) / step))
        out.extend((x0 + (x1 - x0) * k / n, y0 + (y1 - y0) * k / n) for k in range(1, n + 1))
    return out


def point_segment_distance(p: Point, a: Point, b: Point) -> tuple[float, float]:
    """Return (distance from p to segment ab, parameter t in [0, 1] of the closest point)."""
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    den = dx * dx + dy * dy
    t = 0.0 if den == 0.0 else max(0.0, min(1.0, ((p[0] - ax) * dx + (p[1] - ay) * dy) / den))
    return math.hypot(p[0] - ax - t * dx, p[1] - ay - t * dy), t


def rectangle(x_min: float, y_min: float, x_max: float, y_max: float) -> list[Point]:
    """Return the corners of an axis-aligned rectangle as a polygon."""
    return [(x_min, y_min), (x_max, y_min), (x_max, y_max), (x_min, y_max)]


def point_in_polygon(p: Point, poly: Sequence[Point]) -> bool:
    """Return True if ``p`` is inside the polygon (even-odd rule)."""
    x, y = p
    inside = False
    n = len(poly)
    for i in range(n):
        x0, y0 = poly[i]
        x1, y1 = poly[(i + 1) % n]
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside
