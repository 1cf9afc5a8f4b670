"""Boxes and markers from one RGB-D frame: segmentation + ArUco + depth -> map-frame detections.

Never reads ground truth: only the image, the depth image, the intrinsics, the robot pose (from
odometry) and the camera mount.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from codeact_robot.api.types import Detection, Pose
from codeact_robot.perception.camera import (
    CameraMount,
    backproject,
    base_to_map,
    optical_to_base,
)
from codeact_robot.perception.markers import Marker, MarkerDetector, marker_pose
from codeact_robot.perception.segmentation import DEFAULT_COLORS, Blob, ColorRange, find_blobs


@dataclass(frozen=True)
class PerceptionConfig:
    """Tunables of the detector (metres, pixels)."""

    min_blob_area: int = 30
    # Area (px) at which a blob counts as fully convincing for the confidence score.
    full_confidence_area: int = 400
    min_depth: float = 0.05
    max_range: float = 8.0
    # Fraction of a blob's pixels that must have valid depth to trust the depth median.
    min_valid_depth_fraction: float = 0.2
    # The camera sees a box's near face; its centre is this far behind it (half the box depth).
    box_half_depth: float = 0.0
    # Thickness (m) of the nearest-surface slab whose points locate the visible face.
    face_slab: float = 0.04
    # Coloured blobs wider or taller than this (m) are not boxes (pallets, forklifts, people).
    max_box_extent: float = 0.45
    # Largest median distance (m) of face points from their fitted line for a flat face.
    face_flatness: float = 0.006
    # Coloured blobs lower than this (m) are floor markings (drop zone, keep-out), not boxes.
    min_top_height: float = 0.04
    # Printed marker side (m); enables a marker-pose fallback when depth is missing.
    marker_side: float | None = None
    colors: tuple[ColorRange, ...] = field(default=DEFAULT_COLORS)


@dataclass(frozen=True)
class BoxObservation:
    """A detection with the extra geometry the grasp skill needs."""

    color: str
    marker_id: int | None
    position: tuple[float, float, float]  # estimated box centre, map frame
    face: tuple[float, float, float]  # centre of the visible face, map frame
    distance: float  # base_link origin -> centre, horizontal
    bearing: float  # rad, positive = left
    face_distance: float  # base_link origin -> visible surface, horizontal
    confidence: float
    # Map yaw of the visible face's outward normal (towards the camera), None when the depth
    # does not show one flat vertical face (e.g. a corner seen at 45 degrees).
    face_yaw: float | None
    pixel: tuple[float, float]
    area: int
    source: str  # 'depth' or 'marker'

    @property
    def label(self) -> str:
        """Human label: 'red box', or 'marker 3' for a marker on no coloured box."""
        if self.color:
            return f'{self.color} box'
        return f'marker {self.marker_id}'

    def to_detection(self) -> Detection:
        """Return the API's plain Detection."""
        return Detection(label=self.label, color=self.color, marker_id=self.marker_id,
                         x=round(self.position[0], 3), y=round(self.position[1], 3),
                         distance=round(self.distance, 3), bearing=round(self.bearing, 4),
                         confidence=round(self.confidence, 3))

    def matches(self, target: str) -> bool:
        """Return True if a target such as 'red', 'red box' or 'marker 3' names this object."""
        text = target.strip().lower()
        if text.startswith('marker'):
            text = text[len('marker'):].strip()
        if text.isdigit():
            return self.marker_id == int(text)
        if text.endswith(' box'):
            text = text[:-len(' box')].strip()
        return bool(self.color) and text == self.color


class BoxDetector:
    """Detect coloured boxes (and markers) in an RGB-D frame, in the map frame."""

    def __init__(self, mount: CameraMount, config: PerceptionConfig | None = None) -> None:
        self.mount = mount
        self.config = config or PerceptionConfig()
        self._markers = MarkerDetector()

    def observe(self, rgb: np.ndarray, depth: np.ndarray, k_matrix: np.ndarray,
                pose: Pose) -> list[BoxObservation]:
        """Return observations nearest first.

        Args:
            rgb: HxWx3 uint8 RGB image.
            depth: HxW float depth along the optical axis (m); NaN/inf/0 = no return.
            k_matrix: 3x3 intrinsics of the (registered) RGB and depth images.
            pose: Robot base pose in the map frame when the frame was taken.
        """
        depth = registered_depth(depth, rgb.shape[:2])
        cfg = self.config
        blobs = find_blobs(rgb, cfg.colors, cfg.min_blob_area)
        markers = self._markers.detect(rgb)
        owner = self._assign_markers(blobs, markers)
        observations: list[BoxObservation] = []
        claimed: set[int] = set()
        for index, blob in enumerate(blobs):
            marker = owner.get(index)
            obs = self._observe_region(blob.mask, blob.color, marker, blob, depth, k_matrix,
                                       pose)
            if obs is not None:
                observations.append(obs)
                if marker is not None:
                    claimed.add(marker.marker_id)
        # Markers not on a reported box (and not another face of one) are reported alone.
        for marker in markers:
            if marker.marker_id in claimed:
                continue
            claimed.add(marker.marker_id)
            mask = np.zeros(depth.shape[:2], dtype=np.uint8)
            cv2.fillConvexPoly(mask, marker.corners.astype(np.int32), 1)
            obs = self._observe_region(mask > 0, '', marker, None, depth, k_matrix, pose)
            if obs is not None:
                observations.append(obs)
        observations.sort(key=lambda o: o.distance)
        return observations

    def detect(self, rgb: np.ndarray, depth: np.ndarray, k_matrix: np.ndarray,
               pose: Pose) -> list[Detection]:
        """Return the API's Detections nearest first (see observe)."""
        return [o.to_detection() for o in self.observe(rgb, depth, k_matrix, pose)]

    @staticmethod
    def _assign_markers(blobs: list[Blob], markers: list[Marker]) -> dict[int, Marker]:
        """Map blob index -> the marker printed on it.

        A marker whose centre lies inside a blob belongs to it (the largest one if several).
        Then a marker beside a blob that has none (a box's shaded side face, outside the
        segmented front) joins that blob. Markers repeating an id already given to a blob are
        other faces of the same cube and are dropped by the caller.
        """
        owner: dict[int, Marker] = {}
        loose: list[Marker] = []
        for marker in markers:
            u, v = (int(round(c)) for c in marker.center)
            for index, blob in enumerate(blobs):
                h, w = blob.mask.shape
                if 0 <= v < h and 0 <= u < w and blob.mask[v, u]:
                    best = owner.get(index)
                    if best is None or marker.side_px > best.side_px:
                        owner[index] = marker
                    break
            else:
                loose.append(marker)
        owned_ids = {m.marker_id for m in owner.values()}
        for marker in sorted(loose, key=lambda m: -m.side_px):
            if marker.marker_id in owned_ids:
                continue
            u, v = marker.center
            for index, blob in enumerate(blobs):
                x, y, w, h = blob.bbox
                grow_x, grow_y = max(w, marker.side_px) / 2, max(h, marker.side_px) / 2
                if (index not in owner and x - grow_x <= u <= x + w + grow_x
                        and y - grow_y <= v <= y + h + grow_y):
                    owner[index] = marker
                    owned_ids.add(marker.marker_id)
                    break
        return owner

    def _observe_region(self, mask: np.ndarray, color: str, marker: Marker | None,
                        blob: Blob | None, depth: np.ndarray, k_matrix: np.ndarray,
                        pose: Pose) -> BoxObservation | None:
        cfg = self.config
        vs, us = np.nonzero(mask)
        if us.size == 0:
            return None
        z = depth[vs, us].astype(float)
        valid = np.isfinite(z) & (z > cfg.min_depth) & (z < cfg.max_range)
        valid_fraction = float(valid.mean())
        face_base: np.ndarray | None = None
        face_yaw: float | None = None
        inward: np.ndarray | None = None  # unit x/y into the box through the seen face
        source = 'depth'
        if valid_fraction >= cfg.min_valid_depth_fraction:
            points = optical_to_base(backproject(us[valid], vs[valid], z[valid], k_matrix),
                                     self.mount)
            if color and (self._too_large(points)
                          or np.percentile(points[:, 2], 90) < cfg.min_top_height):
                return None
            face_base = self._near_face(points)
            if color:
                fit = self._face_fit(points)
                if fit is not None:
                    normal, middle = fit
                    inward = -np.array([math.cos(normal), math.sin(normal)])
                    face_yaw = math.remainder(normal + pose.theta, 2.0 * math.pi)
                    # Seen obliquely, the nearest slab is the face's near end; the middle of
                    # the fitted face is its centre.
                    face_base = np.array([middle[0], middle[1], face_base[2]])
        elif marker is not None and cfg.marker_side:
            centre = marker_pose(marker, cfg.marker_side, k_matrix)
            if centre is not None and cfg.min_depth < centre[2] < cfg.max_range:
                face_base = optical_to_base(centre[None, :], self.mount)[0]
                source = 'marker'
                valid_fraction = 1.0
        if face_base is None:
            return None
        if inward is None:
            # Without a fitted face, the box centre lies further along the line of sight.
            ray = face_base[:2] - self.mount.translation()[:2]
            ray_norm = float(np.linalg.norm(ray))
            inward = ray / ray_norm if ray_norm > 1e-6 else np.zeros(2)
        centre_base = face_base.copy()
        if color and cfg.box_half_depth > 0.0:
            centre_base[:2] += inward * cfg.box_half_depth
        face_map = base_to_map(face_base[None, :], pose)[0]
        centre_map = base_to_map(centre_base[None, :], pose)[0]
        area = int(us.size)
        confidence = self._confidence(area, valid_fraction, marker is not None,
                                      blob.touches_border if blob is not None else False)
        if blob is not None:
            pixel = blob.centroid
        else:
            pixel = marker.center if marker is not None else (float(us.mean()), float(vs.mean()))
        return BoxObservation(
            color=color,
            marker_id=marker.marker_id if marker is not None else None,
            position=tuple(float(c) for c in centre_map),
            face=tuple(float(c) for c in face_map),
            distance=float(math.hypot(centre_base[0], centre_base[1])),
            bearing=float(math.atan2(centre_base[1], centre_base[0])),
            face_distance=float(math.hypot(face_base[0], face_base[1])),
            confidence=confidence,
            face_yaw=face_yaw,
            pixel=(float(pixel[0]), float(pixel[1])),
            area=area,
            source=source,
        )

    def _near_face(self, points: np.ndarray) -> np.ndarray:
        """Return the median of the points on the nearest surface of a blob (base_link).

        A camera looking down sees a box's top as well as its front; the top lies behind the
        front, so only points within a thin slab of the nearest range count. The median is
        robust to edge pixels that hit the shelf or floor behind the box.
        """
        ranges = np.hypot(points[:, 0], points[:, 1])
        near = ranges <= np.percentile(ranges, 10) + self.config.face_slab
        return np.median(points[near], axis=0)

    def _face_fit(self, points: np.ndarray) -> tuple[float, np.ndarray] | None:
        """Return (base-frame yaw of the face normal, face middle x/y) or None.

        Fits a line to the footprint (x, y) of the points below the top surface; a good fit
        means one flat vertical face, whose normal is turned towards the camera.
        """
        top = np.percentile(points[:, 2], 95)
        side = points[points[:, 2] < top - 0.02, :2]
        if len(side) < 20:
            return None
        vx, vy, x0, y0 = cv2.fitLine(side.astype(np.float32), cv2.DIST_HUBER, 0, 0.01,
                                     0.01).ravel()
        direction = np.array([vx, vy], dtype=float)
        normal = np.array([-vy, vx], dtype=float)
        offsets = side - np.array([x0, y0], dtype=float)
        along = offsets @ direction
        lo, hi = np.percentile(along, [2, 98])
        if np.median(np.abs(offsets @ normal)) > self.config.face_flatness or hi - lo < 0.05:
            return None
        origin = np.array([x0, y0], dtype=float)
        if normal @ (self.mount.translation()[:2] - origin) < 0:
            normal = -normal
        return float(math.atan2(normal[1], normal[0])), origin + direction * (lo + hi) / 2

    def _too_large(self, points: np.ndarray) -> bool:
        """Return True if a blob is bigger than a box (a pallet, a forklift, a person)."""
        lo, hi = np.percentile(points, [5, 95], axis=0)
        centre = np.median(points[:, :2], axis=0)
        norm = float(np.linalg.norm(centre))
        if norm < 1e-6:
            return False
        across = np.array([-centre[1], centre[0]]) / norm
        spread = points[:, :2] @ across
        width = float(np.percentile(spread, 95) - np.percentile(spread, 5))
        return max(width, float(hi[2] - lo[2])) > self.config.max_box_extent

    def _confidence(self, area: int, valid_fraction: float, has_marker: bool,
                    touches_border: bool) -> float:
        """Score 0..1 from blob size, depth coverage and a decoded marker."""
        size = min(1.0, area / float(self.config.full_confidence_area))
        score = 0.25 + 0.45 * size * valid_fraction + (0.3 if has_marker else 0.0)
        if touches_border:
            # Part of the box is outside the view: its position is less certain.
            score *= 0.8
        return float(min(1.0, max(0.0, score)))


def registered_depth(depth: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Return the depth image at the colour image's size (rows, cols).

    Registered depth at another resolution (common on real RGB-D cameras) is resized with
    nearest-neighbour sampling, which never blends a near and a far surface; a different
    aspect ratio means the images are not registered and raises ValueError.
    """
    if depth.ndim != 2:
        raise ValueError(f'expected an HxW depth image, got shape {depth.shape}')
    if depth.shape == size:
        return depth
    rows, cols = depth.shape
    if abs(rows * size[1] - cols * size[0]) > max(rows, cols):
        raise ValueError(f'depth {depth.shape} and rgb {size} differ in aspect ratio: '
                         'the depth image must be registered to the colour camera')
    return cv2.resize(depth.astype(np.float32), (size[1], size[0]),
                      interpolation=cv2.INTER_NEAREST)

