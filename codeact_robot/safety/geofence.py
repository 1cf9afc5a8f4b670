"""Geofence and keep-out zones, checked along the whole path (not only at its end)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from codeact_robot.nav.geometry import Point, densify


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle (xmin, ymin, xmax, ymax) in the map frame."""

    xmin: float
    ymin: float
    xmax: float
    ymax: float

    def contains(self, p: Point, margin: float = 0.0) -> bool:
        """Return True if ``p`` is inside the box grown by ``margin`` (negative shrinks)."""
        return (self.xmin - margin <= p[0] <= self.xmax + margin
                and self.ymin - margin <= p[1] <= self.ymax + margin)


@dataclass(frozen=True)
class Geofence:
    """The area the robot's centre must stay in, and the zones it must never enter.

    ``body_margin`` keeps the robot body (not only its centre) out of keep-out zones and away
    from the fence.
    """

    bounds: Box
    keep_out: Mapping[str, Box] = field(default_factory=dict)
    body_margin: float = 0.25
    step: float = 0.05

    def check_point(self, p: Point) -> str | None:
        """Return why ``p`` is not allowed, or None."""
        if not self.bounds.contains(p, -self.body_margin):
            b = self.bounds
            return (f'({p[0]:.2f}, {p[1]:.2f}) is outside the geofence '
                    f'[{b.xmin + self.body_margin:g}..{b.xmax - self.body_margin:g}] x '
                    f'[{b.ymin + self.body_margin:g}..{b.ymax - self.body_margin:g}]')
        for name, zone in self.keep_out.items():
            if zone.contains(p, self.body_margin):
                return f'({p[0]:.2f}, {p[1]:.2f}) is in the keep-out zone {name!r}'
        return None

    def check_path(self, waypoints: Sequence[Point]) -> str | None:
        """Return why the path (sampled every ``step`` metres) is not allowed, or None."""
        for p in densify(waypoints, self.step):
            reason = self.check_point(p)
            if reason is not None:
                return 'the route leaves the allowed area: ' + reason
        return None
