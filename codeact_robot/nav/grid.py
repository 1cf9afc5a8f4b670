"""A 2-D occupancy grid in the map frame, with inflation and polygon rasterisation."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from codeact_robot.nav.geometry import Point


@dataclass
class OccupancyGrid:
    """Boolean grid (True = occupied); cell (row, col) covers origin + (col, row) * resolution."""

    occupied: np.ndarray
    resolution: float
    origin: Point

    @property
    def shape(self) -> tuple[int, int]:
        """Return (rows, cols)."""
        return self.occupied.shape  # type: ignore[return-value]

    def cell(self, x: float, y: float) -> tuple[int, int]:
        """Return the (row, col) of the cell containing (x, y); may lie outside the grid."""
        return (int(math.floor((y - self.origin[1]) / self.resolution)),
                int(math.floor((x - self.origin[0]) / self.resolution)))

    def center(self, row: int, col: int) -> Point:
        """Return the map coordinates of a cell's centre."""
        return (self.origin[0] + (col + 0.5) * self.resolution,
                self.origin[1] + (row + 0.5) * self.resolution)

    def inside(self, row: int, col: int) -> bool:
        """Return True if (row, col) is a cell of the grid."""
        rows, cols = self.shape
        return 0 <= row < rows and 0 <= col < cols

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


def rectangle(x_min: float, y_min: float, x_max: float, y_max: float) -> list[Point]:
    """Return the corners of an axis-aligned rectangle as a polygon."""
    return [(x_min, y_min), (x_max, y_min), (x_max, y_max), (x_min, y_max)]


def point_in_polygon(p: Point, poly: Sequence[Point]) -> bool:
    """Return True if ``p`` is inside the polygon (even-odd rule)."""
    x, y = p
    inside = False
    n = len(poly)
    for i in range(n):
        x0, y0 = poly[i]
        x1, y1 = poly[(i + 1) % n]
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside
