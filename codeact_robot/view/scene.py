"""The warehouse as 3D shapes for a viewer: walls, shelves, places, zones, boxes and the robot.

ROS-free: the view node turns these shapes into ``visualization_msgs/Marker`` messages (which
the Foxglove app and RViz draw). The static part comes from the world description; boxes,
obstacles and the robot from the simulator's ground truth (or the robot's pose on hardware);
the planned route, the path driven and the blocked aisles from what the robot reports.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from codeact_robot.world import Rect, World

RGBA = tuple[float, float, float, float]

WALL: RGBA = (0.55, 0.55, 0.6, 1.0)
RACK: RGBA = (0.35, 0.45, 0.7, 1.0)
LEDGE: RGBA = (0.6, 0.65, 0.8, 1.0)
STATION: RGBA = (0.3, 0.65, 0.4, 1.0)
KEEP_OUT: RGBA = (0.9, 0.2, 0.2, 0.35)
AISLE: RGBA = (0.9, 0.9, 0.9, 0.15)
BLOCKED: RGBA = (0.96, 0.69, 0.25, 0.6)  # as in the path plot
LABEL: RGBA = (1.0, 1.0, 1.0, 1.0)
ROBOT: RGBA = (0.95, 0.6, 0.1, 1.0)
ROUTE: RGBA = (0.2, 0.8, 1.0, 1.0)
DRIVEN: RGBA = (1.0, 0.35, 0.8, 1.0)
OBSTACLE: RGBA = (0.45, 0.3, 0.2, 1.0)


@dataclass(frozen=True)
class Shape:
    """One drawable thing in the map frame; ``(ns, id)`` names it across updates.

    ``kind`` is cube, cylinder, text or line; a cube or cylinder is centred at (x, y, z) with
    ``size`` (x, y, z) and turned by ``yaw``; a line joins ``points`` (x, y, z).
    """

    ns: str
    id: int
    kind: str
    x: float = 0.0
    y: float = 0.0
    z: float = 0.0
    yaw: float = 0.0
    size: tuple[float, float, float] = (0.05, 0.05, 0.05)
    rgba: RGBA = LABEL
    text: str = ''
    points: tuple[tuple[float, float, float], ...] = ()


def _slab(ns: str, index: int, rect: Rect, height: float, rgba: RGBA,
          base: float = 0.0) -> Shape:
    (cx, cy), (sx, sy) = rect.center, rect.size
    return Shape(ns, index, 'cube', cx, cy, base + height / 2, 0.0, (sx, sy, height), rgba)


def static_scene(world: World) -> list[Shape]:
    """Return what never moves: walls, shelves (rack and ledge), stations, zones, place names."""
    shapes: list[Shape] = []
    for i, wall in enumerate(world.walls):
        shapes.append(_slab('walls', i, wall.rect, wall.height, WALL))
    for i, shelf in enumerate(world.shelves):
        ledge, rack = shelf.parts()
        shapes.append(_slab('shelves', 2 * i, rack, shelf.height, RACK))
        shapes.append(_slab('shelves', 2 * i + 1, ledge, shelf.ledge_height, LEDGE))
    for i, station in enumerate(world.stations):
        shapes.append(_slab('stations', i, station.rect, station.height, STATION))
    for i, zone in enumerate(world.keep_out):
        shapes.append(_slab('keep_out', i, zone.rect, 0.02, KEEP_OUT))
    for i, aisle in enumerate(world.aisles):
        shapes.append(_slab('aisles', i, aisle.rect, 0.01, AISLE))
    for i, place in enumerate(world.places.values()):
        shapes.append(Shape('places', i, 'text', place.x, place.y, 0.6, size=(0.2, 0.2, 0.2),
                            text=place.name))
    return shapes


def blocked_aisles(world: World, names: Iterable[str]) -> list[Shape]:
    """Return the aisles the robot found blocked, raised and coloured (one shape each)."""
    wanted = {n.lower() for n in names}
    return [_slab('blocked_aisles', i, aisle.rect, 0.05, BLOCKED)
            for i, aisle in enumerate(world.aisles) if aisle.name.lower() in wanted]


def objects(world: World, names: Sequence[str],
            poses: Sequence[tuple[float, float, float, float]]) -> list[Shape]:
    """Return the boxes and obstacles from ground truth: ``poses`` are (x, y, z, yaw).

    Names are box names ('red box') or '<kind>:<name>' for obstacles, as the simulator's
    ground truth lists them; names the world does not know are left out.
    """
    boxes = {box.name: box for box in world.boxes}
    shapes: list[Shape] = []
    for i, (name, (x, y, z, yaw)) in enumerate(zip(names, poses, strict=True)):
        if name in boxes:
            box = boxes[name]
            shapes.append(Shape('boxes', i, 'cube', x, y, z, yaw, (box.size,) * 3, box.rgba))
        elif ':' in name and name.split(':', 1)[0] in world.obstacle_kinds:
            kind = world.obstacle_kinds[name.split(':', 1)[0]]
            sx, sy, sz = kind.size
            shapes.append(Shape('obstacles', i, 'cylinder' if kind.shape == 'cylinder'
                                else 'cube', x, y, sz / 2, yaw, (sx, sy, sz), kind.rgba))
    return shapes


def robot(world: World, x: float, y: float, yaw: float) -> list[Shape]:
    """Return the robot: its chassis and a heading arrow (a line from the centre forward)."""
    spec = world.robot
    height = spec.chassis_height
    z = spec.chassis_clearance + height / 2
    nose = (x + 0.6 * spec.chassis_length * math.cos(yaw),
            y + 0.6 * spec.chassis_length * math.sin(yaw), z + height)
    return [Shape('robot', 0, 'cube', x, y, z, yaw,
                  (spec.chassis_length, spec.chassis_width, height), ROBOT),
            Shape('robot', 1, 'line', size=(0.05, 0.0, 0.0), rgba=LABEL,
                  points=((x, y, z + height), nose))]


def line(ns: str, points: Sequence[tuple[float, float]], rgba: RGBA,
         z: float = 0.05, width: float = 0.05) -> Shape:
    """Return a polyline on the floor, e.g. the planned route or the path driven."""
    return Shape(ns, 0, 'line', size=(width, 0.0, 0.0), rgba=rgba,
                 points=tuple((float(px), float(py), z) for px, py in points))
