"""ArUco marker detection (DICT_4X4_50) with cv2.aruco.ArucoDetector."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

ARUCO_DICTIONARY = cv2.aruco.DICT_4X4_50


@dataclass(frozen=True)
class Marker:
    """A decoded marker: id and its four image corners (clockwise from top-left)."""

    marker_id: int
    corners: np.ndarray  # 4x2 float pixels
    center: tuple[float, float]
    side_px: float  # mean side length in pixels


class MarkerDetector:
    """Find DICT_4X4_50 markers in an RGB or grey image."""

    def __init__(self, dictionary: int = ARUCO_DICTIONARY) -> None:
        params = cv2.aruco.DetectorParameters()
        # Sub-pixel corners make marker poses (solvePnP) usable at warehouse distances.
        params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
        self._detector = cv2.aruco.ArucoDetector(
            cv2.aruco.getPredefinedDictionary(dictionary), params)
        # The skills node detects from several executor threads (perceive service, grasp).
        self._lock = threading.Lock()

    def detect(self, image: np.ndarray) -> list[Marker]:
        """Return the markers decoded in the image."""
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        with self._lock:
            corners, ids, _ = self._detector.detectMarkers(np.ascontiguousarray(gray))
        if ids is None:
            return []
        markers = []
        for quad, marker_id in zip(corners, ids.ravel(), strict=True):
            pts = quad.reshape(4, 2).astype(float)
            sides = np.linalg.norm(pts - np.roll(pts, 1, axis=0), axis=1)
            center = pts.mean(axis=0)
            markers.append(Marker(int(marker_id), pts, (float(center[0]), float(center[1])),
                                  float(sides.mean())))
        return markers


def marker_pose(marker: Marker, side_m: float, k_matrix: np.ndarray) -> np.ndarray | None:
    """Return the marker centre in the optical frame (m) from its corners, or None.

    Used when depth is missing at the marker; needs the printed side length.
    """
    half = side_m / 2.0
    object_points = np.array([[-half, half, 0.0], [half, half, 0.0], [half, -half, 0.0],
                              [-half, -half, 0.0]])
    ok, _, tvec = cv2.solvePnP(object_points, marker.corners.astype(np.float64),
                               np.asarray(k_matrix, dtype=np.float64), None,
                               flags=cv2.SOLVEPNP_IPPE_SQUARE)
    if not ok:
        return None
    return tvec.reshape(3)
