"""Where the robot is and where it may go (ROS-free): pose history, lidar obstacles, route policy.

The skills node feeds it the contents of odometry and laser-scan messages; motions, the
PlanRoute service and the blocked-aisle hints ask it for poses and plans. It owns:

- state estimation: the odometry pose at any recent stamp (interpolated), the map pose
  (initial pose, or scan matching against the static map, composed with odometry), scans in
  the map frame at their own stamps;
- obstacle memory: recent nearby lidar returns the static map lacks, and aisles found blocked;
- the route policy: keep-out zones and ``avoid`` are hard, aisles seen or remembered blocked
  are soft (avoided when a route around exists), a zone the robot is in is never blocked, and
  a robot carrying a box plans with its larger footprint.

Thread-safe: odometry and scans arrive on executor threads while motions plan on others.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Sequence

import numpy as np

from codeact_robot.nav.geometry import (
    Pose2,
    compose,
    densify,
    point_in_polygon,
    rectangle,
    wrap_angle,
)
from codeact_robot.nav.localizer import Localizer, ScanMatcher
from codeact_robot.nav.planner import GridPlanner, Plan
from codeact_robot.safety.geofence import Box, Geofence
from codeact_robot.safety.monitor import Footprint
from codeact_robot.world import World
from codeact_robot.world.grid import OccupancyGrid, rasterize

# Seconds of sim time between scans kept for the planning overlay (4 Hz is plenty to plan).
OVERLAY_PERIOD = 0.25
# Odometry messages kept for pose-at-stamp lookups (4 s at 50 Hz).
ODOM_HISTORY = 200
# Longest extrapolation of the last odometry pose with its twist (s).
MAX_EXTRAPOLATION = 0.2


def to_map(pose: Pose2, pts: np.ndarray) -> np.ndarray:
    """Return base-frame points ``pts`` (Nx2) in the frame ``pose`` is given in."""
    c, s = math.cos(pose[2]), math.sin(pose[2])
    return np.column_stack([pose[0] + c * pts[:, 0] - s * pts[:, 1],
                            pose[1] + s * pts[:, 0] + c * pts[:, 1]])


class Navigator:
    """Pose estimation, obstacle memory and route planning for one robot in one world."""

    def __init__(self, world: World, *, initial_pose: Sequence[float] = (),
                 lidar_mount: Sequence[float] = (), resolution: float = 0.05,
                 planner_margin: float = 0.1, geofence_margin: float = 0.25,
                 scan_matching: bool = True, overlay_range: float = 3.5,
                 static_map: OccupancyGrid | None = None) -> None:
        """Build the planners and zones of ``world``.

        Args:
            world: The site: map, aisles, keep-out zones, robot and lidar geometry.
            initial_pose: Map pose [x, y, theta] where odometry (0, 0, 0) is; empty = the
                world's start pose.
            lidar_mount: Lidar pose in base_link [x, y, yaw]; empty = the world's.
            resolution: Planner grid cell size (m).
            planner_margin: Clearance added to the robot radius when planning (m).
            geofence_margin: How far the robot centre stays inside the bounds and outside
                keep-out zones (m).
            scan_matching: Correct odometry drift by aligning scans with the static map.
            overlay_range: Only returns nearer than this (m) enter the planning overlay: far
                ones carry most of the pose error.
            static_map: A map of the site (a map_server map, ``world/map_file.py``) to plan
                and localize on; None = rasterized from the world description.
        """
        self.world = world
        robot = world.robot
        front = max(robot.footprint[0] / 2, robot.pad_x + robot.pad_size[0] / 2)
        self.footprint = Footprint(front, robot.footprint[0] / 2, robot.footprint[1] / 2)
        self.box_size = world.boxes[0].size if world.boxes else 0.2
        start = world.start_pose
        self.initial: Pose2 = (tuple(initial_pose) if len(initial_pose) == 3  # type: ignore
                               else (start.x, start.y, start.theta))
        lm = world.lidar_mount
        self.lidar: Pose2 = (tuple(lidar_mount) if len(lidar_mount) == 3  # type: ignore
                             else (lm.x, lm.y, lm.yaw))
        self.localizer: Localizer | None = None
        if scan_matching:
            self.localizer = Localizer(ScanMatcher(
                static_map or self._lidar_grid(resolution)), self.initial)
        self.grid: OccupancyGrid = static_map or world.occupancy_grid(resolution=resolution)
        self._planner = GridPlanner(self.grid, self.footprint.radius, planner_margin)
        self._carry_planner = GridPlanner(
            self.grid, self.footprint.extended(self.box_size).radius, planner_margin / 2)
        b = world.bounds
        self.keep_out = {z.name: Box(*z.rect.as_tuple()) for z in world.keep_out}
        self.geofence = Geofence(Box(b.xmin, b.ymin, b.xmax, b.ymax), self.keep_out,
                                 body_margin=geofence_margin)
        self._zone_polys = {a.name: rectangle(*a.rect.as_tuple()) for a in world.aisles}
        r = self.footprint.radius
        self._zone_polys.update({z.name: rectangle(*z.rect.inflated(r).as_tuple())
                                 for z in world.keep_out})
        self.overlay_range = overlay_range
        self.holding = False  # a carried box enlarges the body and the planning footprint
        self._lock = threading.Lock()
        self.odom_pose: Pose2 | None = None
        self.odom_twist: tuple[float, float] | None = None
        self._history: deque[tuple[float, Pose2]] = deque(maxlen=ODOM_HISTORY)
        self._overlay: deque[tuple[float, np.ndarray]] = deque()
        self._last_overlay = -math.inf
        self._blocked: dict[str, float] = {}

    def _lidar_grid(self, resolution: float) -> OccupancyGrid:
        # What a planar lidar at base height sees: walls, the racks behind the low ledges
        # (the ledges are below the scan plane) and the stations.
        w = self.world
        rects = ([x.rect for x in w.walls] + [s.parts()[1] for s in w.shelves]
                 + [s.rect for s in w.stations])
        return rasterize(w.bounds, rects, resolution, 0.0)

    # -- state estimation ----------------------------------------------------------------------

    def body(self) -> Footprint:
        """Return the robot's footprint, with the carried box when holding one."""
        return self.footprint.extended(self.box_size + 0.02) if self.holding else self.footprint

    def update_odom(self, stamp: float, pose: Pose2, twist: tuple[float, float]) -> None:
        """Take one odometry message: header ``stamp`` (s), odom-frame pose, (v, w)."""
        with self._lock:
            self.odom_pose, self.odom_twist = pose, twist
            self._history.append((stamp, pose))

    def odom_at(self, t: float) -> tuple[Pose2, bool] | None:
        """Return (odom pose at stamp ``t``, exact) from the recent odometry, or None.

        Interpolates between odometry messages; a stamp newer than the last one is
        extrapolated with the measured twist (at most ``MAX_EXTRAPOLATION`` s) and reported
        as not exact.
        """
        with self._lock:
            history = list(self._history)
            twist = self.odom_twist
        if not history:
            return None
        if t <= history[0][0]:
            return history[0][1], t >= history[0][0] - 1e-3
        for (t0, p0), (t1, p1) in zip(history, history[1:], strict=False):
            if t0 <= t <= t1:
                f = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
                dth = wrap_angle(p1[2] - p0[2])
                return (p0[0] + f * (p1[0] - p0[0]), p0[1] + f * (p1[1] - p0[1]),
                        wrap_angle(p0[2] + f * dth)), True
        t1, (x, y, th) = history[-1]
        v, w = twist or (0.0, 0.0)
        dt = min(t - t1, MAX_EXTRAPOLATION)
        return (x + v * dt * math.cos(th), y + v * dt * math.sin(th),
                wrap_angle(th + w * dt)), dt <= 1e-3

    def odom_to_map(self, odom: Pose2) -> Pose2:
        """Return the map pose of an odometry-frame pose (with the scan-matching correction)."""
        if self.localizer is not None:
            return self.localizer.map_pose(odom)
        return compose(self.initial, odom)

    def map_pose(self) -> Pose2 | None:
        """Return the latest map pose, or None before the first odometry."""
        odom = self.odom_pose
        return None if odom is None else self.odom_to_map(odom)

    def scan_points(self, ranges: Sequence[float], angle_min: float, angle_increment: float,
                    range_min: float, range_max: float) -> np.ndarray:
        """Return a scan's valid returns in base_link (Nx2), without the robot's own body."""
        r = np.asarray(ranges, dtype=float)
        a = angle_min + angle_increment * np.arange(len(r))
        ok = np.isfinite(r) & (r >= range_min) & (r <= range_max)
        r, a = r[ok], a[ok]
        lx, ly, lth = self.lidar
        pts = np.column_stack([lx + r * np.cos(a + lth), ly + r * np.sin(a + lth)])
        return pts[~self.body().inside(pts, 0.03)]

    def add_scan(self, stamp: float, pts: np.ndarray, now: float) -> np.ndarray:
        """Take a scan (base_link points at header ``stamp``); return it in the map frame.

        The scan is placed with the pose at its own stamp: with the latest pose instead, a
        turning robot would smear walls into phantom obstacles across the aisles. ``now``
        (node clock) times the obstacle overlay. Before any odometry the map points are empty.
        """
        found = self.odom_at(stamp)
        if found is None:
            return np.zeros((0, 2))
        odom, exact = found
        if self.localizer is not None:
            # Match only sweeps whose pose is known exactly and taken while not turning fast:
            # a small timing error times a high turn rate is a large heading error.
            w = abs(self.odom_twist[1]) if self.odom_twist else 0.0
            if exact and w < 0.3:
                self.localizer.update(odom, pts)
        scan_map = to_map(self.odom_to_map(odom), pts)
        with self._lock:
            if now - self._last_overlay >= OVERLAY_PERIOD:
                self._last_overlay = now
                far = np.linalg.norm(pts, axis=1) > self.overlay_range
                self._overlay.append((now, scan_map[~far]))
        return scan_map

    # -- obstacle memory -----------------------------------------------------------------------

    def obstacle_mask(self, now: float, lifetime: float) -> np.ndarray:
        """Return grid cells with lidar returns of the last ``lifetime`` s the map lacks."""
        mask = self.grid.empty_mask()
        with self._lock:
            while self._overlay and now - self._overlay[0][0] > lifetime:
                self._overlay.popleft()
            scans = [pts for _, pts in self._overlay]
        for pts in scans:
            self.grid.mark_points(mask, pts)
        # Returns from the static map are already in it; keep only what the map lacks.
        near_static = self.grid.inflate(self.grid.occupied, 0.2)
        return mask & ~near_static

    def remember_blocked(self, aisle: str, until: float) -> None:
        """Avoid ``aisle`` (softly) in plans until node-clock time ``until``."""
        with self._lock:
            self._blocked[aisle] = until

    def remembered_blocked(self, now: float) -> list[str]:
        """Return the aisles found blocked by earlier motions that are still remembered."""
        with self._lock:
            for name in [n for n, t in self._blocked.items() if t < now]:
                del self._blocked[name]
            return sorted(self._blocked)

    def seen_blocked(self, obstacles: np.ndarray) -> list[str]:
        """Return the aisles whose whole width the live obstacles cut (no way through)."""
        planner = self._carry_planner if self.holding else self._planner
        blocked = self.grid.inflate(obstacles, planner.inflation) | planner.static_blocked
        out = []
        for aisle in self.world.aisles:
            r0, c0 = self.grid.world_to_cell(aisle.rect.xmin, aisle.rect.ymin)
            r1, c1 = self.grid.world_to_cell(aisle.rect.xmax, aisle.rect.ymax)
            sub = blocked[max(r0, 0):r1, max(c0, 0):c1]
            if sub.size == 0 or not (obstacles[max(r0, 0):r1, max(c0, 0):c1]).any():
                continue
            along_x = aisle.rect.size[0] >= aisle.rect.size[1]
            cut = sub.all(axis=0) if along_x else sub.all(axis=1)
            if cut.any():
                out.append(aisle.name)
        return out

    # -- route policy --------------------------------------------------------------------------

    def known_zones(self) -> list[str]:
        """Return the names allowed in ``avoid``: aisles and keep-out zones."""
        return sorted(self._zone_polys)

    def plan(self, goal: tuple[float, float], avoid: Sequence[str], now: float,
             lifetime: float) -> tuple[Plan, list[str]]:
        """Plan from the current pose; return (plan, aisles seen or remembered as blocked).

        ``avoid`` and keep-out zones are never entered; blocked aisles are avoided when a
        route around them exists, else crossed (the motion stops at the obstacle and says so).
        ``lifetime``: how long lidar obstacles stay in the map (s).
        """
        pose = self.map_pose()
        if pose is None:
            return Plan(False, 'no odometry yet: the robot pose is unknown'), []
        obstacles = self.obstacle_mask(now, lifetime)
        blocked = sorted(set(self.remembered_blocked(now)) | set(self.seen_blocked(obstacles)))
        planner = self._carry_planner if self.holding else self._planner
        # A zone the robot is already in cannot be avoided, only left: do not block it.
        inside = {n for n, poly in self._zone_polys.items() if point_in_polygon(pose[:2], poly)}
        hard = (set(avoid) | set(self.keep_out)) - inside
        soft = (set(blocked) - inside) - hard
        zones = self.grid.polygon_mask([self._zone_polys[n] for n in hard])
        plan = None
        if soft:
            soft_zones = zones | self.grid.polygon_mask([self._zone_polys[n] for n in soft])
            plan = planner.plan(pose[:2], goal, soft_zones, obstacles)
        if plan is None or not plan.ok:
            plan = planner.plan(pose[:2], goal, zones, obstacles)
        return plan, blocked

    def route_aisles(self, waypoints: Sequence[tuple[float, float]]) -> list[str]:
        """Return the aisles a route passes through, in order."""
        out: list[str] = []
        for p in densify(list(waypoints), 0.1):
            aisle = self.world.aisle_at(*p)
            if aisle and (not out or out[-1] != aisle):
                out.append(aisle)
        return out

    def detour_hint(self, aisle: str, goal: tuple[float, float], avoid: Sequence[str],
                    now: float, lifetime: float) -> str:
        """Return what to do after ``aisle`` was found blocked on the way to ``goal``."""
        alt, _ = self.plan(goal, sorted(set(avoid) | {aisle}), now, lifetime)
        if alt.ok:
            via = [a for a in self.route_aisles(alt.waypoints) if a != aisle]
            return (f'try {via[0]}' if via else 'a route around it is free') + \
                f': call move_to again with avoid=["{aisle}"]'
        return f'no route avoids {aisle}; wait() and try again, or pick another goal'
