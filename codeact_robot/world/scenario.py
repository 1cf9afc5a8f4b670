"""Scenarios (sim/scenarios/<name>.yaml): seed, box placements and scheduled obstacles."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from codeact_robot.world.geometry import Rect
from codeact_robot.world.model import OBSTACLE_KINDS, World, WorldError, resolve


@dataclass(frozen=True)
class Trigger:
    """When a scheduled obstacle appears: at sim time ``at`` or when the robot enters ``zone``.

    With both set, whichever happens first. ``zone`` is a rectangle; ``zone_name`` keeps the
    aisle or place name it came from (for messages).
    """

    at: float | None = None
    zone: Rect | None = None
    zone_name: str = ''

    def fired(self, time: float, robot_x: float, robot_y: float) -> bool:
        """Return True when the trigger condition holds now."""
        if self.at is not None and time >= self.at:
            return True
        return self.zone is not None and self.zone.contains(robot_x, robot_y)


@dataclass(frozen=True)
class ObstacleSpec:
    """A dynamic obstacle: its kind, where it stands (aisle middle or x/y) and when."""

    name: str
    kind: str  # pallet | forklift | person
    x: float
    y: float
    yaw: float
    aisle: str | None
    trigger: Trigger
    clear_at: float | None = None


@dataclass(frozen=True)
class BoxPlacement:
    """Override of a box's initial position (centre x, y; z None = resting on the floor)."""

    x: float
    y: float
    z: float | None = None
    yaw: float = 0.0


@dataclass(frozen=True)
class Scenario:
    """A run's setup: seed, robot start (None = the world's), box overrides, obstacles."""

    name: str
    description: str
    seed: int
    boxes: dict[str, BoxPlacement] = field(default_factory=dict)
    obstacles: tuple[ObstacleSpec, ...] = ()
    start: tuple[float, float, float] | None = None
    source: Path | None = field(default=None, compare=False)


def obstacle_position(world: World, aisle: str | None, x: float | None,
                      y: float | None) -> tuple[float, float]:
    """Return the obstacle centre: the middle of ``aisle``, or (x, y) when no aisle is named."""
    if aisle:
        try:
            return world.aisle(aisle).rect.center
        except KeyError as e:
            raise WorldError(str(e)) from e
    if x is None or y is None:
        raise WorldError('an obstacle needs an aisle or both x and y')
    if not world.bounds.contains(x, y):
        raise WorldError(f'obstacle position ({x}, {y}) is outside the world bounds')
    return float(x), float(y)


def _zone(world: World, value: Any) -> tuple[Rect, str]:
    if isinstance(value, str):
        if value in world.places:
            place = world.places[value]
            return Rect.around(place.x, place.y, 1.0, 1.0), value
        try:
            return world.aisle(value).rect, value
        except KeyError as e:
            raise WorldError(f'trigger zone {value!r} is neither an aisle nor a place') from e
    return Rect.from_list(value), str(value)


def _obstacle(world: World, data: dict[str, Any]) -> ObstacleSpec:
    name, kind = str(data['name']), str(data['kind'])
    if kind not in OBSTACLE_KINDS:
        raise WorldError(f'obstacle {name}: kind must be one of {OBSTACLE_KINDS}')
    aisle = data.get('aisle')
    x, y = obstacle_position(world, aisle, data.get('x'), data.get('y'))
    trig = data.get('trigger') or {'at': 0.0}
    zone, zone_name = (None, '')
    if trig.get('zone') is not None:
        zone, zone_name = _zone(world, trig['zone'])
    at = float(trig['at']) if trig.get('at') is not None else None
    if at is None and zone is None:
        raise WorldError(f'obstacle {name}: trigger needs "at" (s) and/or "zone"')
    clear_at = data.get('clear_at')
    return ObstacleSpec(name, kind, x, y, math.radians(float(data.get('yaw_deg', 0.0))),
                        str(aisle) if aisle else None, Trigger(at, zone, zone_name),
                        float(clear_at) if clear_at is not None else None)


def scenario_from_dict(world: World, data: dict[str, Any],
                       source: Path | None = None) -> Scenario:
    """Build and validate a Scenario for ``world`` from the parsed YAML mapping."""
    try:
        boxes = {}
        for name, p in (data.get('boxes') or {}).items():
            box = world.box(str(name))
            boxes[box.name] = BoxPlacement(float(p['x']), float(p['y']),
                                           float(p['z']) if p.get('z') is not None else None,
                                           float(p.get('yaw', 0.0)))
        obstacles = tuple(_obstacle(world, o) for o in data.get('obstacles') or [])
        names = [o.name for o in obstacles]
        if len(set(names)) != len(names):
            raise WorldError(f'obstacle names must be unique: {names}')
        start = data.get('start')
        return Scenario(
            name=str(data['name']), description=str(data.get('description', '')).strip(),
            seed=int(data.get('seed', 0)), boxes=boxes, obstacles=obstacles,
            start=(float(start['x']), float(start['y']), float(start['theta']))
            if start else None, source=source)
    except (KeyError, TypeError) as e:
        raise WorldError(f'invalid scenario {source or ""}: missing or bad {e}') from e


def load_scenario(name_or_path: str = 'default', world: World | None = None) -> Scenario:
    """Load a scenario by name (sim/scenarios/<name>.yaml) or path, for ``world``.

    The world defaults to the one the scenario names (``world:`` key, else 'warehouse').
    """
    from codeact_robot.world.model import load_world

    path = resolve('scenarios', name_or_path)
    with path.open(encoding='utf-8') as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise WorldError(f'{path}: not a YAML mapping')
    if world is None:
        world = load_world(str(data.get('world', 'warehouse')))
    return scenario_from_dict(world, data, path)
