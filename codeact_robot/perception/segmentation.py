"""Colour-box segmentation: HSV thresholds for the six box colours, connected blobs."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class ColorRange:
    """One colour as OpenCV HSV ranges (H in 0..179); several hue intervals for red."""

    name: str
    hues: tuple[tuple[int, int], ...]
    min_saturation: int = 185
    min_value: int = 50


# Hue intervals tuned on MuJoCo renders of the warehouse boxes and on plain cv2 renders. The box
# paints are saturated (S > 0.75); grey, white and black (floor, marker cells) and the duller
# furniture (blue racks S 0.67, station, dock, pallets, people) fall below the threshold.
DEFAULT_COLORS: tuple[ColorRange, ...] = (
    ColorRange('red', ((0, 6), (171, 179))),
    ColorRange('orange', ((7, 19),)),
    ColorRange('yellow', ((20, 35),)),
    ColorRange('green', ((36, 85),)),
    ColorRange('blue', ((95, 128),)),
    ColorRange('purple', ((129, 170),)),
)

COLOR_NAMES: tuple[str, ...] = tuple(c.name for c in DEFAULT_COLORS)


@dataclass(frozen=True)
class Blob:
    """A connected region of one colour, its holes (e.g. a marker) filled."""

    color: str
    mask: np.ndarray  # bool, image-sized
    area: int
    bbox: tuple[int, int, int, int]  # x, y, w, h
    centroid: tuple[float, float]  # u, v
    touches_border: bool


def color_mask(hsv: np.ndarray, color: ColorRange) -> np.ndarray:
    """Return the uint8 (0/255) mask of pixels of one colour in an HSV image."""
    mask = np.zeros(hsv.shape[:2], dtype=np.uint8)
    for lo, hi in color.hues:
        lower = np.array([lo, color.min_saturation, color.min_value], dtype=np.uint8)
        upper = np.array([hi, 255, 255], dtype=np.uint8)
        mask |= cv2.inRange(hsv, lower, upper)
    return mask


def find_blobs(rgb: np.ndarray, colors: tuple[ColorRange, ...] = DEFAULT_COLORS,
               min_area: int = 30) -> list[Blob]:
    """Segment an RGB uint8 image into colour blobs of at least min_area pixels."""
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f'expected an HxWx3 RGB image, got shape {rgb.shape}')
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.uint8), cv2.COLOR_RGB2HSV)
    height, width = rgb.shape[:2]
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (3, 3))
    blobs: list[Blob] = []
    for color in colors:
        # Closing (not opening): the warehouse boxes show only a thin colour frame around the
        # white marker field, a line 1-2 px wide at a few metres that opening would erase.
        mask = cv2.morphologyEx(color_mask(hsv, color), cv2.MORPH_CLOSE, kernel)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for contour in contours:
            # Filling the outer contour closes holes left by a marker printed on the face.
            filled = np.zeros_like(mask)
            cv2.drawContours(filled, [contour], -1, 255, thickness=cv2.FILLED)
            area = int(np.count_nonzero(filled))
            if area < min_area:
                continue
            x, y, w, h = cv2.boundingRect(contour)
            moments = cv2.moments(filled, binaryImage=True)
            centroid = (moments['m10'] / moments['m00'], moments['m01'] / moments['m00'])
            touches = x <= 0 or y <= 0 or x + w >= width or y + h >= height
            blobs.append(Blob(color.name, filled > 0, area, (x, y, w, h), centroid, touches))
    return blobs
