"""Box face textures: the box colour around an ArUco DICT_4X4_50 marker (deterministic)."""

from __future__ import annotations

import cv2
import numpy as np

from codeact_robot.world.model import Box

ARUCO_DICT = cv2.aruco.DICT_4X4_50
FACE_PX = 120  # texture side in pixels
BORDER_PX = 12  # box colour around the quiet zone
QUIET_PX = 12  # white margin the detector needs around the marker
MARKER_FRACTION = (FACE_PX - 2 * (BORDER_PX + QUIET_PX)) / FACE_PX  # marker side / face side


def marker_image(marker_id: int, side_px: int) -> np.ndarray:
    """Return the marker (black/white, including its 1-cell black border) as uint8 side x side."""
    dictionary = cv2.aruco.getPredefinedDictionary(ARUCO_DICT)
    return cv2.aruco.generateImageMarker(dictionary, marker_id, side_px, borderBits=1)


def face_texture(box: Box) -> np.ndarray:
    """Return the RGB face image (FACE_PX square, uint8) of ``box``."""
    rgb = np.array([round(255 * c) for c in box.rgba[:3]], dtype=np.uint8)
    img = np.empty((FACE_PX, FACE_PX, 3), dtype=np.uint8)
    img[:] = rgb
    lo, hi = BORDER_PX, FACE_PX - BORDER_PX
    img[lo:hi, lo:hi] = 255
    m0 = BORDER_PX + QUIET_PX
    side = FACE_PX - 2 * m0
    img[m0:m0 + side, m0:m0 + side] = marker_image(box.marker_id, side)[..., None]
    return img


def png_bytes(rgb: np.ndarray) -> bytes:
    """Encode an RGB image as PNG."""
    ok, buf = cv2.imencode('.png', np.ascontiguousarray(rgb[..., ::-1]))
    if not ok:
        raise ValueError('PNG encoding failed')
    return buf.tobytes()


def texture_name(box: Box) -> str:
    """File name of the box's face texture, e.g. 'box_1_red.png'."""
    return f'box_{box.marker_id}_{box.color}.png'
