"""What the simulator knows and the robot does not: a ROS-free ground-truth sample.

The simulator publishes it on /sim/ground_truth for tests, benchmarks and the evaluation; nothing
the robot API, the skills or the agent run may read it (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class GroundTruth:
    """One simulator ground-truth sample: robot pose, object positions, what is held."""

    stamp: float  # seconds (simulation clock)
    robot: tuple[float, float, float]  # x, y, theta in the map frame
    objects: Mapping[str, tuple[float, float, float]] = field(default_factory=dict)  # x, y, z
    held: str = ''

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form."""
        return {'stamp': self.stamp, 'robot': list(self.robot),
                'objects': {k: list(v) for k, v in self.objects.items()}, 'held': self.held}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GroundTruth:
        """Inverse of to_dict."""
        return cls(float(data['stamp']), tuple(data['robot']),  # type: ignore[arg-type]
                   {k: tuple(v) for k, v in data.get('objects', {}).items()},
                   str(data.get('held', '')))
