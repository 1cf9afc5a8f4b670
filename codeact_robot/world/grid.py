"""The one occupancy grid: static world map, planner masks, inflation, clearance."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from codeact_robot.world.geometry import Rect

Point = tuple[float, float]


@dataclass(frozen=True, eq=False)
class OccupancyGrid:
    """Occupied cells of a rectangular area.

    ``occupied[row, col]`` covers x in [origin_x + col * res, origin_x + (col + 1) * res) and
    y in [origin_y + row * res, ...): rows go along y, columns along x.
    """

    occupied: np.ndarray
    origin: tuple[float, float]
    resolution: float

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols)."""
        return self.occupied.shape  # type: ignore[return-value]

    def world_to_cell(self, x: float, y: float) -> tuple[int, int]:
        """Return the (row, col) of the cell containing (x, y); may lie outside the grid."""
        return (int(math.floor((y - self.origin[1]) / self.resolution)),
                int(math.floor((x - self.origin[0]) / self.resolution)))

    def cell_to_world(self, row: int, col: int) -> tuple[float, float]:
        """Return the (x, y) centre of cell (row, col)."""
        return (self.origin[0] + (col + 0.5) * self.resolution,
                self.origin[1] + (row + 0.5) * self.resolution)

    def in_grid(self, row: int, col: int) -> bool:
        """Return True when (row, col) is a cell of the grid."""
        return 0 <= row < self.occupied.shape[0] and 0 <= col < self.occupied.shape[1]

    def is_free(self, x: float, y: float) -> bool:
        """Return True when (x, y) is inside the grid and its cell is free."""
        row, col = self.world_to_cell(x, y)
        return self.in_grid(row, col) and not bool(self.occupied[row, col])

    def with_rects(self, rects: Iterable[Rect], inflate: float = 0.0) -> OccupancyGrid:
        """Return a copy with the given rectangles (grown by ``inflate``) marked occupied."""
        occupied = self.occupied.copy()
        for rect in rects:
            mark_rect(occupied, self.origin, self.resolution, rect.inflated(inflate))
        return OccupancyGrid(occupied, self.origin, self.resolution)

    # -- masks of the grid's shape (obstacles, zones) for the planner ----------------------

    def empty_mask(self) -> np.ndarray:
        """Return an all-free mask of the grid's shape."""
        return np.zeros(self.shape, dtype=bool)

    def mark_points(self, mask: np.ndarray, points: np.ndarray) -> None:
        """Set the cells containing ``points`` (N x 2, map frame) in ``mask``."""
        if len(points) == 0:
            return
        cols = np.floor((points[:, 0] - self.origin[0]) / self.resolution).astype(int)
        rows = np.floor((points[:, 1] - self.origin[1]) / self.resolution).astype(int)
        ok = (rows >= 0) & (rows < self.shape[0]) & (cols >= 0) & (cols < self.shape[1])
        mask[rows[ok], cols[ok]] = True

    def polygon_mask(self, polygons: Iterable[Sequence[Point]]) -> np.ndarray:
        """Return a mask of the cells whose centres lie inside any of ``polygons``."""
        mask = np.zeros(self.shape, dtype=np.uint8)
        for poly in polygons:
            # Pixel coordinates of vertices, shifted so that a cell is filled when its centre is
            # inside (cv2 fills pixel centres at integer coordinates).
            pts = np.array([[(x - self.origin[0]) / self.resolution - 0.5,
                             (y - self.origin[1]) / self.resolution - 0.5] for x, y in poly])
            cv2.fillPoly(mask, [np.round(pts * 16).astype(np.int32)], 1, shift=4)
        return mask.astype(bool)

    def inflate(self, mask: np.ndarray, radius: float) -> np.ndarray:
        """Return ``mask`` grown by ``radius`` metres (every cell within radius of a set cell)."""
        r = int(math.ceil(radius / self.resolution))
        if r <= 0 or not mask.any():
            return mask.copy()
        k = 2 * r + 1
        yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
        kernel = ((xx * xx + yy * yy) * self.resolution ** 2 <= radius ** 2 + 1e-9)
        return cv2.dilate(mask.astype(np.uint8), kernel.astype(np.uint8).reshape(k, k)) > 0

    def clearance(self, mask: np.ndarray) -> np.ndarray:
        """Return, per cell, the distance in metres to the nearest set cell of ``mask``."""
        free = (~mask).astype(np.uint8)
        return cv2.distanceTransform(free, cv2.DIST_L2, 5) * self.resolution


def mark_rect(occupied: np.ndarray, origin: tuple[float, float], resolution: float,
              rect: Rect) -> None:
    """Mark every cell that overlaps ``rect`` as occupied (in place)."""
    rows, cols = occupied.shape
    # A cell is marked when any part of it overlaps the rectangle (conservative).
    c0 = max(0, math.floor((rect.xmin - origin[0]) / resolution + 1e-9))
    c1 = min(cols, math.ceil((rect.xmax - origin[0]) / resolution - 1e-9))
    r0 = max(0, math.floor((rect.ymin - origin[1]) / resolution + 1e-9))
    r1 = min(rows, math.ceil((rect.ymax - origin[1]) / resolution - 1e-9))
    if c1 > c0 and r1 > r0:
        occupied[r0:r1, c0:c1] = True


def rasterize(bounds: Rect, rects: Iterable[Rect], resolution: float,
              inflate: float) -> OccupancyGrid:
    """Build the grid over ``bounds`` with ``rects`` grown by ``inflate`` marked occupied."""
    if resolution <= 0:
        raise ValueError(f'resolution must be > 0, got {resolution}')
    if inflate < 0:
        raise ValueError(f'inflate must be >= 0, got {inflate}')
    cols = math.ceil(bounds.size[0] / resolution - 1e-9)
    rows = math.ceil(bounds.size[1] / resolution - 1e-9)
    occupied = np.zeros((rows, cols), dtype=bool)
    origin = (bounds.xmin, bounds.ymin)
    for rect in rects:
        mark_rect(occupied, origin, resolution, rect.inflated(inflate))
    return OccupancyGrid(occupied, origin, resolution)
