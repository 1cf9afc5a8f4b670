"""The warehouse description: frozen dataclasses read from sim/worlds/<name>.yaml."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from codeact_robot.api.types import Place, Pose
from codeact_robot.resources import share_path
from codeact_robot.world.geometry import Mount, Rect
from codeact_robot.world.grid import OccupancyGrid, rasterize

FRONTS = ('north', 'south', 'east', 'west')
OBSTACLE_KINDS = ('pallet', 'forklift', 'person')


class WorldError(ValueError):
    """A world or scenario description is missing or invalid."""


@dataclass(frozen=True)
class Wall:
    """A wall segment with collision."""

    name: str
    rect: Rect
    height: float


@dataclass(frozen=True)
class Shelf:
    """A shelf row: a tall rack behind a low ledge on its ``front`` side where boxes sit."""

    name: str  # 'A'..'D'
    rect: Rect
    front: str  # side facing the aisle with the boxes: north|south|east|west
    height: float
    ledge_depth: float
    ledge_height: float

    @property
    def label(self) -> str:
        """Place-style name, e.g. 'shelf A'."""
        return f'shelf {self.name}'

    def parts(self) -> tuple[Rect, Rect]:
        """Return (ledge, rack) rectangles; together they cover ``rect``."""
        r, d = self.rect, self.ledge_depth
        if self.front == 'north':
            cut = r.ymax - d
            return Rect(r.xmin, cut, r.xmax, r.ymax), Rect(r.xmin, r.ymin, r.xmax, cut)
        if self.front == 'south':
            cut = r.ymin + d
            return Rect(r.xmin, r.ymin, r.xmax, cut), Rect(r.xmin, cut, r.xmax, r.ymax)
        if self.front == 'east':
            cut = r.xmax - d
            return Rect(cut, r.ymin, r.xmax, r.ymax), Rect(r.xmin, r.ymin, cut, r.ymax)
        cut = r.xmin + d
        return Rect(r.xmin, r.ymin, cut, r.ymax), Rect(cut, r.ymin, r.xmax, r.ymax)

    def front_point(self, along: float, inset: float) -> tuple[float, float]:
        """Return the point ``inset`` metres behind the front edge at coordinate ``along``."""
        r = self.rect
        if self.front == 'north':
            return along, r.ymax - inset
        if self.front == 'south':
            return along, r.ymin + inset
        if self.front == 'east':
            return r.xmax - inset, along
        return r.xmin + inset, along


@dataclass(frozen=True)
class Aisle:
    """An aisle between two shelf rows."""

    name: str  # 'aisle 1'..'aisle 3'
    rect: Rect


@dataclass(frozen=True)
class Station:
    """Static furniture (packing station, charging dock) with collision."""

    name: str
    kind: str
    rect: Rect
    height: float
    drop_zone: Rect | None = None


@dataclass(frozen=True)
class Zone:
    """A named keep-out rectangle the robot must not enter."""

    name: str
    rect: Rect


@dataclass(frozen=True)
class Box:
    """A coloured cube with an ArUco DICT_4X4_50 marker on every face."""

    name: str  # 'red box'
    color: str  # 'red'
    rgba: tuple[float, float, float, float]
    marker_id: int
    size: float
    mass: float
    x: float
    y: float
    z: float  # centre height
    yaw: float
    location: str  # 'shelf A' .. or 'floor'


@dataclass(frozen=True)
class ObstacleKind:
    """Shape of a dynamic obstacle kind: box size [x, y, z] or cylinder [d, d, height]."""

    name: str
    shape: str  # box | cylinder
    size: tuple[float, float, float]
    rgba: tuple[float, float, float, float]


@dataclass(frozen=True)
class CameraSpec:
    """Forward pinhole RGB-D camera."""

    mount: Mount
    fovy_deg: float
    width: int
    height: int
    near: float
    far: float

    def intrinsics(self, width: int | None = None,
                   height: int | None = None) -> tuple[float, float, float, float]:
        """Return (fx, fy, cx, cy) in pixels for an image of the given size (square pixels)."""
        w = self.width if width is None else width
        h = self.height if height is None else height
        f = (h / 2) / math.tan(math.radians(self.fovy_deg) / 2)
        return f, f, (w - 1) / 2, (h - 1) / 2


@dataclass(frozen=True)
class LidarSpec:
    """Planar lidar: ``rays`` evenly over ``fov_deg`` centred on the mount's x axis."""

    mount: Mount
    rays: int
    fov_deg: float
    range_min: float
    range_max: float
    noise_std: float

    def angles(self) -> tuple[float, float, float]:
        """Return (angle_min, angle_max, angle_increment) in radians, as in LaserScan."""
        fov = math.radians(self.fov_deg)
        # A full circle must not measure the same direction twice.
        inc = fov / self.rays if self.fov_deg >= 360.0 else fov / (self.rays - 1)
        start = -math.pi if self.fov_deg >= 360.0 else -fov / 2
        return start, start + inc * (self.rays - 1), inc


@dataclass(frozen=True)
class RobotSpec:
    """The differential-drive AMR: dimensions, limits and sensor mounts (relative to base_link)."""

    footprint: tuple[float, float]  # length, width
    chassis_length: float
    chassis_width: float
    chassis_height: float
    chassis_clearance: float
    chassis_mass: float
    wheel_radius: float
    wheel_separation: float
    max_linear_speed: float
    max_angular_speed: float
    camera: CameraSpec
    lidar: LidarSpec
    pad_x: float
    pad_z: float
    pad_size: tuple[float, float, float]
    attach_distance: float

    @property
    def camera_mount(self) -> Mount:
        """Camera pose relative to base_link."""
        return self.camera.mount

    @property
    def lidar_mount(self) -> Mount:
        """Lidar pose relative to base_link."""
        return self.lidar.mount

    @property
    def radius(self) -> float:
        """Radius of the circle around base_link that contains the footprint."""
        return math.hypot(self.footprint[0] / 2, self.footprint[1] / 2)


@dataclass(frozen=True, eq=False)
class World:
    """The warehouse: geometry, named places, boxes and the robot, from one YAML file.

    Compared and hashed by identity (it holds dicts), so it can key caches.
    """

    name: str
    description: str
    bounds: Rect
    walls: tuple[Wall, ...]
    shelves: tuple[Shelf, ...]
    aisles: tuple[Aisle, ...]
    stations: tuple[Station, ...]
    keep_out: tuple[Zone, ...]
    places: dict[str, Place]
    boxes: tuple[Box, ...]
    obstacle_kinds: dict[str, ObstacleKind]
    obstacle_slots: int
    robot: RobotSpec
    start_pose: Pose
    source: Path | None = field(default=None, compare=False)

    @property
    def camera_mount(self) -> Mount:
        """Camera pose relative to base_link."""
        return self.robot.camera.mount

    @property
    def lidar_mount(self) -> Mount:
        """Lidar pose relative to base_link."""
        return self.robot.lidar.mount

    def shelf(self, name: str) -> Shelf:
        """Return the shelf 'A' (also accepts 'shelf A')."""
        key = name.removeprefix('shelf ').strip().upper()
        for shelf in self.shelves:
            if shelf.name == key:
                return shelf
        raise KeyError(f'no shelf {name!r}; shelves: {[s.name for s in self.shelves]}')

    def aisle(self, name: str) -> Aisle:
        """Return the aisle 'aisle 2' (also accepts '2')."""
        key = name if name.startswith('aisle') else f'aisle {name}'
        for aisle in self.aisles:
            if aisle.name == key:
                return aisle
        raise KeyError(f'no aisle {name!r}; aisles: {[a.name for a in self.aisles]}')

    def box(self, name: str) -> Box:
        """Return the box 'red box' (also accepts 'red')."""
        for box in self.boxes:
            if name in (box.name, box.color):
                return box
        raise KeyError(f'no box {name!r}; boxes: {[b.name for b in self.boxes]}')

    def aisle_at(self, x: float, y: float) -> str | None:
        """Return the name of the aisle containing (x, y), or None."""
        for aisle in self.aisles:
            if aisle.rect.contains(x, y):
                return aisle.name
        return None

    def static_obstacles(self) -> list[Rect]:
        """Return the rectangles with collision: walls, shelves and stations."""
        return ([w.rect for w in self.walls] + [s.rect for s in self.shelves]
                + [s.rect for s in self.stations])

    def occupancy_grid(self, resolution: float = 0.05, inflate: float = 0.0,
                       keep_out: bool = False) -> OccupancyGrid:
        """Rasterize the static obstacles (and the keep-out zones if asked) over ``bounds``.

        Args:
            resolution: Cell size in metres.
            inflate: Grow every obstacle by this margin (e.g. the robot radius) in metres.
            keep_out: Also mark the keep-out zones (not inflated) as occupied.
        """
        grid = rasterize(self.bounds, self.static_obstacles(), resolution, inflate)
        if keep_out:
            grid = grid.with_rects(z.rect for z in self.keep_out)
        return grid


def _floats(values: Any, n: int, what: str) -> tuple[float, ...]:
    if not isinstance(values, list | tuple) or len(values) != n:
        raise WorldError(f'{what}: expected {n} numbers, got {values!r}')
    return tuple(float(v) for v in values)


def _mount(data: dict[str, Any]) -> Mount:
    return Mount(float(data['x']), float(data.get('y', 0.0)), float(data['z']),
                 float(data.get('roll', 0.0)), float(data.get('pitch', 0.0)),
                 float(data.get('yaw', 0.0)))


def _robot(data: dict[str, Any]) -> RobotSpec:
    cam, lid, pad, chassis = data['camera'], data['lidar'], data['suction_pad'], data['chassis']
    camera = CameraSpec(_mount(data['camera_mount']), float(cam['fovy_deg']), int(cam['width']),
                        int(cam['height']), float(cam['near']), float(cam['far']))
    lidar = LidarSpec(_mount(data['lidar_mount']), int(lid['rays']), float(lid['fov_deg']),
                      float(lid['range_min']), float(lid['range_max']),
                      float(lid.get('noise_std', 0.0)))
    if lidar.rays < 2 or not 0 < lidar.fov_deg <= 360:
        raise WorldError(f'invalid lidar {lid}')
    return RobotSpec(
        footprint=_floats(data['footprint'], 2, 'robot.footprint'),  # type: ignore[arg-type]
        chassis_length=float(chassis['length']), chassis_width=float(chassis['width']),
        chassis_height=float(chassis['height']), chassis_clearance=float(chassis['clearance']),
        chassis_mass=float(chassis['mass']),
        wheel_radius=float(data['wheel_radius']), wheel_separation=float(data['wheel_separation']),
        max_linear_speed=float(data['max_linear_speed']),
        max_angular_speed=float(data['max_angular_speed']),
        camera=camera, lidar=lidar, pad_x=float(pad['x']), pad_z=float(pad['z']),
        pad_size=_floats(pad['size'], 3, 'suction_pad.size'),  # type: ignore[arg-type]
        attach_distance=float(pad.get('attach_distance', 0.005)))


def _walls(bounds: Rect, thickness: float, height: float) -> tuple[Wall, ...]:
    t = thickness / 2
    b = bounds
    return (Wall('wall south', Rect(b.xmin - t, b.ymin - t, b.xmax + t, b.ymin + t), height),
            Wall('wall north', Rect(b.xmin - t, b.ymax - t, b.xmax + t, b.ymax + t), height),
            Wall('wall west', Rect(b.xmin - t, b.ymin + t, b.xmin + t, b.ymax - t), height),
            Wall('wall east', Rect(b.xmax - t, b.ymin + t, b.xmax + t, b.ymax - t), height))


def _box(data: dict[str, Any], shelves: dict[str, Shelf], size: float, mass: float) -> Box:
    name = str(data['name'])
    marker = int(data['marker_id'])
    if not 0 <= marker < 50:
        raise WorldError(f'{name}: marker_id {marker} is not in DICT_4X4_50 (0..49)')
    size = float(data.get('size', size))
    if 'shelf' in data:
        shelf = shelves.get(str(data['shelf']).upper())
        if shelf is None:
            raise WorldError(f'{name}: unknown shelf {data["shelf"]!r}')
        along = float(data['x'] if shelf.front in ('north', 'south') else data['y'])
        x, y = shelf.front_point(along, size / 2)
        z = shelf.ledge_height + size / 2
        location = shelf.label
    else:
        x, y, z = float(data['x']), float(data['y']), size / 2
        location = 'floor'
    return Box(name=name, color=str(data['color']),
               rgba=_floats(data['rgba'], 4, f'{name}.rgba'),  # type: ignore[arg-type]
               marker_id=marker, size=size, mass=float(data.get('mass', mass)),
               x=x, y=y, z=z, yaw=float(data.get('yaw', 0.0)), location=location)


def world_from_dict(data: dict[str, Any], source: Path | None = None) -> World:
    """Build and validate a World from the parsed YAML mapping."""
    try:
        bounds = Rect.from_list(data['bounds'])
        walls = _walls(bounds, float(data['walls']['thickness']), float(data['walls']['height']))
        style = data['shelf_style']
        shelves = []
        for s in data['shelves']:
            if s['front'] not in FRONTS:
                raise WorldError(f'shelf {s["name"]}: front must be one of {FRONTS}')
            shelves.append(Shelf(str(s['name']).upper(), Rect.from_list(s['rect']), s['front'],
                                 float(s.get('height', style['height'])),
                                 float(style['ledge_depth']), float(style['ledge_height'])))
        aisles = tuple(Aisle(str(a['name']), Rect.from_list(a['rect'])) for a in data['aisles'])
        stations = tuple(
            Station(str(s['name']), str(s['kind']), Rect.from_list(s['rect']),
                    float(s['height']),
                    Rect.from_list(s['drop_zone']) if s.get('drop_zone') else None)
            for s in data.get('stations', []))
        keep_out = tuple(Zone(str(z['name']), Rect.from_list(z['rect']))
                         for z in data.get('keep_out') or [])
        places = {str(name): Place(str(name), float(p['x']), float(p['y']), float(p['theta']),
                                   str(p['kind']), str(p.get('description', '')))
                  for name, p in data['places'].items()}
        by_name = {s.name: s for s in shelves}
        boxes = tuple(_box(b, by_name, float(data['box_size']), float(data['box_mass']))
                      for b in data['boxes'])
        kinds = {}
        for kind, k in data['obstacle_kinds'].items():
            if kind not in OBSTACLE_KINDS or k['shape'] not in ('box', 'cylinder'):
                raise WorldError(f'obstacle kind {kind}: kind must be one of {OBSTACLE_KINDS},'
                                 ' shape box or cylinder')
            kinds[kind] = ObstacleKind(
                kind, k['shape'], _floats(k['size'], 3, f'{kind}.size'),  # type: ignore[arg-type]
                _floats(k['rgba'], 4, f'{kind}.rgba'))  # type: ignore[arg-type]
        start = data['start']
        world = World(
            name=str(data['name']), description=str(data.get('description', '')).strip(),
            bounds=bounds, walls=walls, shelves=tuple(shelves), aisles=aisles, stations=stations,
            keep_out=keep_out, places=places, boxes=boxes, obstacle_kinds=kinds,
            obstacle_slots=int(data.get('obstacle_slots', 2)), robot=_robot(data['robot']),
            start_pose=Pose(float(start['x']), float(start['y']), float(start['theta'])),
            source=source)
    except (KeyError, TypeError) as e:
        raise WorldError(f'invalid world description {source or ""}: missing or bad {e}') from e
    _validate(world)
    return world


def _validate(world: World) -> None:
    names = [b.name for b in world.boxes]
    if len(set(names)) != len(names):
        raise WorldError(f'box names must be unique: {names}')
    markers = [b.marker_id for b in world.boxes]
    if len(set(markers)) != len(markers):
        raise WorldError(f'marker ids must be unique: {markers}')
    obstacles = world.static_obstacles()
    for place in world.places.values():
        if not world.bounds.contains(place.x, place.y):
            raise WorldError(f'place {place.name!r} is outside the bounds')
        if any(r.contains(place.x, place.y) for r in obstacles):
            raise WorldError(f'place {place.name!r} is inside an obstacle')
    if not world.bounds.contains(world.start_pose.x, world.start_pose.y):
        raise WorldError('start pose is outside the bounds')


def resolve(kind: str, name_or_path: str, suffix: str = '.yaml') -> Path:
    """Find a shipped file by name ('warehouse') under sim/<kind>/, or accept a path."""
    path = Path(name_or_path).expanduser()
    if path.suffix in ('.yaml', '.yml') or path.is_file():
        if not path.is_file():
            raise WorldError(f'{kind[:-1]} file {path} does not exist')
        return path
    try:
        return share_path('sim', kind, name_or_path + suffix)
    except FileNotFoundError as e:
        raise WorldError(f'no {kind[:-1]} named {name_or_path!r}: {e}') from e


def load_world(name_or_path: str = 'warehouse') -> World:
    """Load a world by name (sim/worlds/<name>.yaml) or by path."""
    path = resolve('worlds', name_or_path)
    with path.open(encoding='utf-8') as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise WorldError(f'{path}: not a YAML mapping')
    return world_from_dict(data, path)
