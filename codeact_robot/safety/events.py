"""A safety intervention as the skills node reports it on /safety/events, without ROS."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SafetyIntervention:
    """One /safety/events message: its kind (e.g. 'obstacle_stop'), reason and source."""

    kind: str
    reason: str = ''
    source: str = ''
