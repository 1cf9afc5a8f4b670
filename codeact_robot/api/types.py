"""Plain, immutable result types of the robot API.

They hold only str, int, float, bool, None, tuples/lists and other types from this module, so the
executor can send them to the sandbox as plain data (never pickle).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields


def _short_repr(obj: object) -> str:
    """``Name(field=value, ...)`` with floats to 2 decimals and unset (None) fields left out.

    What the model reads in an observation: centimetres are enough, and a short line per result
    keeps the conversation inside a small model's context.
    """
    parts = []
    for f in fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        if value is None:
            continue
        parts.append(f'{f.name}={_round(value)!r}')
    return f'{type(obj).__name__}({", ".join(parts)})'


def _round(value: object) -> object:
    if isinstance(value, float):
        return round(value, 2)
    if isinstance(value, tuple):
        return tuple(_round(v) for v in value)
    if isinstance(value, list):
        return [_round(v) for v in value]
    return value


class _ShortRepr:
    """Mixin: the dataclasses below print as ``_short_repr`` (they are declared repr=False)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return _short_repr(self)


@dataclass(frozen=True, repr=False)
class Pose(_ShortRepr):
    """A pose in the map frame: metres and radians (theta counter-clockwise from +x)."""

    x: float
    y: float
    theta: float


@dataclass(frozen=True, repr=False)
class Place(_ShortRepr):
    """A named place of the world and the pose the robot takes to be there."""

    name: str
    x: float
    y: float
    theta: float
    kind: str  # shelf, station, dock, start, aisle
    description: str = ''


#: How a motion ends, in one vocabulary: ``MoveResult.status`` (what the model reads), the
#: skills controller's outcomes, and (by code) the MoveTo and Drive action results. 'invalid',
#: 'refused' and 'estop' reach the model as exceptions, not as a MoveResult.
MOTION_STATUS_CODES = {'arrived': 0, 'blocked': 1, 'timed_out': 2, 'safety_stop': 3,
                       'canceled': 4, 'invalid': 5, 'no_path': 6, 'refused': 7, 'estop': 8}
MOTION_STATUS_OF_CODE = {code: status for status, code in MOTION_STATUS_CODES.items()}


@dataclass(frozen=True, repr=False)
class MoveResult(_ShortRepr):
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


@dataclass(frozen=True, repr=False)
class Route(_ShortRepr):
    """A planned (not driven) route."""

    ok: bool
    message: str
    length: float
    waypoints: list[tuple[float, float]] = field(default_factory=list)
    aisles: list[str] = field(default_factory=list)
    blocked_aisles: list[str] = field(default_factory=list)


@dataclass(frozen=True, repr=False)
class Detection(_ShortRepr):
    """Something the camera sees (from OpenCV on the image and depth, never ground truth)."""

    label: str
    color: str
    marker_id: int | None
    x: float
    y: float
    distance: float
    bearing: float
    confidence: float
