"""Plain, immutable result types of the robot API.

They hold only str, int, float, bool, None, tuples/lists and other types from this module, so the
executor can send them to the sandbox as plain data (never pickle).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Pose:
    """A pose in the map frame: metres and radians (theta counter-clockwise from +x)."""

    x: float
    y: float
    theta: float


@dataclass(frozen=True)
class Place:
    """A named place of the world and the pose the robot takes to be there."""

    name: str
    x: float
    y: float
    theta: float
    kind: str  # shelf, station, dock, start, aisle
    description: str = ''


@dataclass(frozen=True)
class MoveResult:
    """Outcome of a motion: arrived, blocked, timed_out, safety_stop, canceled or no_path."""

    status: str
    message: str
    pose: Pose
    blocked_at: tuple[float, float] | None = None
    blocked_aisle: str | None = None
    obstacle_distance: float | None = None

    @property
    def arrived(self) -> bool:
        """True when the motion reached its goal."""
        return self.status == 'arrived'


@dataclass(frozen=True)
class Route:
    """A planned (not driven) route."""

    ok: bool
    message: str
    length: float
    waypoints: list[tuple[float, float]] = field(default_factory=list)
    aisles: list[str] = field(default_factory=list)
    blocked_aisles: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Detection:
    """Something the camera sees (from OpenCV on the image and depth, never ground truth)."""

    label: str
    color: str
    marker_id: int | None
    x: float
    y: float
    distance: float
    bearing: float
    confidence: float
