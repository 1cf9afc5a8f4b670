"""Grid A* (8-connected) on an inflated occupancy grid, with blocked zones and live obstacles."""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from codeact_robot.nav.geometry import Point, path_length
from codeact_robot.world.grid import OccupancyGrid

_SQRT2 = math.sqrt(2.0)
_MOVES = ((0, 1, 1.0), (1, 0, 1.0), (0, -1, 1.0), (-1, 0, 1.0),
          (1, 1, _SQRT2), (1, -1, _SQRT2), (-1, 1, _SQRT2), (-1, -1, _SQRT2))


@dataclass(frozen=True)
class Plan:
    """A planned route: ok, a message saying why not, and map-frame waypoints."""

    ok: bool
    message: str
    waypoints: list[Point] = field(default_factory=list)

    @property
    def length(self) -> float:
        """Return the route length in metres."""
        return path_length(self.waypoints)


class GridPlanner:
    """A* over a static grid inflated by the robot radius plus a safety margin.

    Cells near obstacles cost more (``clearance_weight``), so routes keep to the middle of
    aisles, which leaves room for the lidar's obstacle check.
    """

    def __init__(self, grid: OccupancyGrid, robot_radius: float, margin: float = 0.1,
                 clearance_weight: float = 2.0, preferred_clearance: float = 0.6) -> None:
        self.grid = grid
        self.robot_radius = robot_radius
        self.margin = margin
        self.inflation = robot_radius + margin
        self.clearance_weight = clearance_weight
        self.preferred_clearance = preferred_clearance
        self.static_blocked = grid.inflate(grid.occupied, self.inflation)

    def cost_grid(self, zones: np.ndarray | None = None,
                  obstacles: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return (blocked mask, per-cell step cost) for static map + zones + live obstacles.

        Args:
            zones: Cells the route must not enter (avoid / keep-out); not inflated.
            obstacles: Cells holding live obstacles (from the lidar); inflated like the map.
        """
        hard = self.grid.occupied.copy()
        if obstacles is not None:
            hard |= obstacles
        blocked = self.grid.inflate(hard, self.inflation)
        if zones is not None:
            blocked |= zones
        clearance = self.grid.clearance(hard)
        penalty = np.clip((self.preferred_clearance - clearance) / self.preferred_clearance,
                          0.0, 1.0)
        return blocked, 1.0 + self.clearance_weight * penalty

    def plan(self, start: Point, goal: Point, zones: np.ndarray | None = None,
             obstacles: np.ndarray | None = None, snap_radius: float = 0.6) -> Plan:
        """Plan from ``start`` to ``goal`` (map frame).

        The start or goal may lie in the inflated margin (e.g. a place close to a shelf): the
        search then starts/ends at the nearest free cell within ``snap_radius``.
        """
        g = self.grid
        blocked, cost = self.cost_grid(zones, obstacles)
        s, t = g.world_to_cell(*start), g.world_to_cell(*goal)
        if not g.in_grid(*t):
            return Plan(False, f'goal ({goal[0]:.2f}, {goal[1]:.2f}) is outside the map')
        if zones is not None and zones[t]:
            return Plan(False, f'goal ({goal[0]:.2f}, {goal[1]:.2f}) is inside an avoided or '
                               'keep-out zone')
        if g.occupied[t] or (obstacles is not None and obstacles[t]):
            return Plan(False, f'goal ({goal[0]:.2f}, {goal[1]:.2f}) is occupied (shelf, wall '
                               'or obstacle); pick a point in free space')
        radius_cells = int(math.ceil(snap_radius / g.resolution))
        s_free = _nearest_free(blocked, s, radius_cells) if g.in_grid(*s) else None
        if s_free is None:
            return Plan(False, 'the robot is too close to an obstacle to plan; back up with '
                               'move(-0.3) and try again')
        t_free = _nearest_free(blocked, t, radius_cells)
        if t_free is None:
            return Plan(False, f'goal ({goal[0]:.2f}, {goal[1]:.2f}) is too close to obstacles '
                               'for the robot to fit')
        cells = _astar(blocked, cost, s_free, t_free)
        if cells is None:
            return Plan(False, f'no route to ({goal[0]:.2f}, {goal[1]:.2f}) around the known '
                               'obstacles and avoided zones')
        pts = [g.cell_to_world(r, c) for r, c in _shortcut(blocked, cost, cells)]
        # Cell centres within half a cell of the exact start or goal are only rounding noise.
        pts = [p for p in pts
               if math.dist(p, start) > g.resolution and math.dist(p, goal) > g.resolution]
        return Plan(True, 'ok', _dedupe([tuple(start), *pts, tuple(goal)]))  # type: ignore


def _nearest_free(blocked: np.ndarray, cell: tuple[int, int],
                  radius: int) -> tuple[int, int] | None:
    """Return the nearest unblocked cell within ``radius`` cells (breadth-first), or None."""
    if not blocked[cell]:
        return cell
    rows, cols = blocked.shape
    seen = {cell}
    queue = deque([cell])
    while queue:
        r, c = queue.popleft()
        for dr, dc, _ in _MOVES:
            n = (r + dr, c + dc)
            if n in seen or not (0 <= n[0] < rows and 0 <= n[1] < cols):
                continue
            if max(abs(n[0] - cell[0]), abs(n[1] - cell[1])) > radius:
                continue
            if not blocked[n]:
                return n
            seen.add(n)
            queue.append(n)
    return None


def _astar(blocked: np.ndarray, cost: np.ndarray, start: tuple[int, int],
           goal: tuple[int, int]) -> list[tuple[int, int]] | None:
    """Return the cheapest 8-connected cell path (no corner cutting), or None."""
    rows, cols = blocked.shape
    blocked_l = blocked.tolist()
    cost_l = cost.tolist()
    gr, gc = goal

    def h(r: int, c: int) -> float:
        dr, dc = abs(r - gr), abs(c - gc)
        return (dr + dc) + (_SQRT2 - 2.0) * min(dr, dc)

    g_best = {start: 0.0}
    parent: dict[tuple[int, int], tuple[int, int]] = {}
    heap = [(h(*start), 0.0, start)]
    closed: set[tuple[int, int]] = set()
    while heap:
        _, g_cur, cur = heapq.heappop(heap)
        if cur == goal:
            path = [cur]
            while cur in parent:
                cur = parent[cur]
                path.append(cur)
            return path[::-1]
        if cur in closed:
            continue
        closed.add(cur)
        r, c = cur
        for dr, dc, step in _MOVES:
            nr, nc = r + dr, c + dc
            if not (0 <= nr < rows and 0 <= nc < cols) or blocked_l[nr][nc]:
                continue
            if dr and dc and (blocked_l[r][nc] or blocked_l[nr][c]):
                continue  # no squeezing diagonally between two blocked cells
            ng = g_cur + step * 0.5 * (cost_l[r][c] + cost_l[nr][nc])
            n = (nr, nc)
            if ng < g_best.get(n, math.inf):
                g_best[n] = ng
                parent[n] = cur
                heapq.heappush(heap, (ng + h(nr, nc), ng, n))
    return None


def _line_cells(a: tuple[int, int], b: tuple[int, int]) -> list[tuple[int, int]]:
    """Return the cells the straight segment between two cell centres passes through."""
    n = int(max(abs(b[0] - a[0]), abs(b[1] - a[1])) * 2) + 1
    return [(int(round(a[0] + (b[0] - a[0]) * k / n)), int(round(a[1] + (b[1] - a[1]) * k / n)))
            for k in range(n + 1)]


def _shortcut(blocked: np.ndarray, cost: np.ndarray, cells: Sequence[tuple[int, int]],
              max_jump: int = 60) -> list[tuple[int, int]]:
    """Drop intermediate cells where a straight line is free and no closer to obstacles.

    A shortcut is taken only if its worst cell costs no more than the worst cell of the A*
    stretch it replaces, so straightening keeps the clearance the search preferred.
    """
    out = [cells[0]]
    i = 0
    while i < len(cells) - 1:
        j = min(len(cells) - 1, i + max_jump)
        while j > i + 1:
            worst = max(cost[c] for c in cells[i:j + 1]) + 1e-6
            line = _line_cells(cells[i], cells[j])
            if all(not blocked[c] and cost[c] <= worst for c in line):
                break
            j -= 1
        out.append(cells[j])
        i = j
    return out


def _dedupe(points: list[Point]) -> list[Point]:
    out: list[Point] = []
    for p in points:
        if not out or math.dist(out[-1], p) > 1e-6:
            out.append(p)
    return out
