"""The perceive skill: camera frame + odometry pose -> detections (ROS-message-free).

The skills node feeds it the latest /camera/image_raw, /camera/depth/image_raw, /camera/camera_info
and the odometry pose in the map frame, and turns the result into Perceive.srv detections.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from codeact_robot.api.types import Detection, Pose
from codeact_robot.perception.camera import CameraMount
from codeact_robot.perception.detector import BoxDetector, BoxObservation, PerceptionConfig
from codeact_robot.perception.segmentation import COLOR_NAMES
from codeact_robot.world.markers import MARKER_FRACTION


class RgbdFrame(NamedTuple):
    """One registered camera frame and the robot's map pose when it was taken."""

    rgb: np.ndarray  # HxWx3 uint8, RGB order
    depth: np.ndarray  # HxW float32 metres along the optical axis; NaN/0 = no return
    k: np.ndarray  # 3x3 intrinsics
    pose: Pose


class StampedImage(NamedTuple):
    """One camera image with the stamp it was captured at and when this node got it."""

    stamp: float  # capture time (header stamp, s)
    fresh: float  # capture time on the freshness clock the caller asks with (s)
    data: np.ndarray


class RgbdPairer:
    """Pair colour and depth images by capture stamp, as message_filters' ApproximateTime does.

    The two streams arrive through separate subscriptions; under load one of them can lag the
    other by several frames. Pairing the latest of each would join a colour image to the depth
    of another moment (on a moving robot: blob pixels with the depth of the shelf behind, a
    ghost box), and the robot's pose must be the one at capture time, not at receipt.
    """

    def __init__(self, tolerance: float = 0.005, keep: int = 6) -> None:
        """Pair images whose stamps differ by at most ``tolerance`` s; keep ``keep`` of each."""
        if tolerance < 0.0:
            raise ValueError(f'tolerance must be >= 0, got {tolerance}')
        self.tolerance = tolerance
        self._rgb: deque[StampedImage] = deque(maxlen=keep)
        self._depth: deque[StampedImage] = deque(maxlen=keep)

    def add_rgb(self, image: StampedImage) -> None:
        """Keep a colour image (older ones beyond ``keep`` are dropped)."""
        self._rgb.append(image)

    def add_depth(self, image: StampedImage) -> None:
        """Keep a depth image (older ones beyond ``keep`` are dropped)."""
        self._depth.append(image)

    def clear(self) -> None:
        """Forget every kept image (the camera was switched off)."""
        self._rgb.clear()
        self._depth.clear()

    def newest_pair(self, since: float = -math.inf) -> tuple[StampedImage, StampedImage] | None:
        """Return the newest (rgb, depth) of one capture fresh at or after ``since``, or None."""
        best: tuple[StampedImage, StampedImage] | None = None
        for rgb in self._rgb:
            if rgb.fresh < since:
                continue
            for depth in self._depth:
                if abs(depth.stamp - rgb.stamp) <= self.tolerance and depth.fresh >= since \
                        and (best is None or rgb.stamp > best[0].stamp):
                    best = (rgb, depth)
        return best


class InvalidTargetError(ValueError):
    """A grasp/find target names no colour, box label or marker."""


def parse_target(target: object) -> str:
    """Return the normalised target ('red', 'marker 3') or raise InvalidTargetError.

    Accepts a colour ('red'), a label ('red box') or a marker ('marker 3', '3', 3).
    """
    if isinstance(target, bool) or not isinstance(target, str | int):
        raise InvalidTargetError(
            f'target must be a string such as "red" or "marker 3", got {type(target).__name__}')
    text = str(target).strip().lower()
    if len(text) > 40:
        raise InvalidTargetError(f'target is too long ({len(text)} characters): use a colour '
                                 'such as "red" or a marker such as "marker 3"')
    if text.startswith('marker'):
        text = text[len('marker'):].strip()
    if text.isdigit() and 0 <= int(text) < 50:
        return f'marker {int(text)}'
    if text.endswith(' box'):
        text = text[:-len(' box')].strip()
    if text in COLOR_NAMES:
        return text
    raise InvalidTargetError(
        f'unknown target {target!r}: use a colour ({", ".join(COLOR_NAMES)}), a label such as '
        '"red box", or a marker such as "marker 3" (ids 0-49)')


class PerceptionSkill:
    """Detect boxes and markers in camera frames, in the map frame, nearest first."""

    def __init__(self, world: object | None = None, camera_mount: object | None = None,
                 config: PerceptionConfig | None = None) -> None:
        """Create the skill.

        Args:
            world: A codeact_robot.world World; supplies the camera mount and the box size
                (for the face-to-centre offset) unless given explicitly.
            camera_mount: Camera pose in base_link (CameraMount, a world Mount or a mapping);
                overrides the world's.
            config: Detector tunables; box_half_depth defaults to half the world's box size,
                marker_side to the side of the markers printed on the world's boxes.
        """
        if camera_mount is None:
            if world is None:
                raise ValueError('PerceptionSkill needs a world or a camera_mount')
            camera_mount = world.camera_mount  # type: ignore[attr-defined]
        config = config or PerceptionConfig()
        boxes = getattr(world, 'boxes', ()) if world is not None else ()
        if boxes and config.box_half_depth == 0.0:
            config = replace(config, box_half_depth=float(boxes[0].size) / 2.0)
        if boxes and config.marker_side is None:
            # Printed markers enable the marker-pose fallback where depth has no return.
            config = replace(config, marker_side=float(boxes[0].size) * MARKER_FRACTION)
        self.detector = BoxDetector(CameraMount.from_any(camera_mount), config)

    def observe(self, frame: RgbdFrame) -> list[BoxObservation]:
        """Return rich observations (with face distance, for grasping), nearest first."""
        return self.detector.observe(frame.rgb, frame.depth, frame.k, frame.pose)

    def detect(self, rgb: np.ndarray, depth: np.ndarray, k: np.ndarray,
               pose: Pose) -> list[Detection]:
        """Return the API's Detections for one frame, nearest first."""
        return self.detector.detect(rgb, depth, k, pose)

    def find(self, frame: RgbdFrame, target: str) -> BoxObservation | None:
        """Return the nearest, then most confident, observation matching the target."""
        wanted = parse_target(target)
        matches = [o for o in self.observe(frame) if o.matches(wanted)]
        if not matches:
            return None
        # Prefer a coloured box over a bare marker for marker targets (the box is graspable).
        matches.sort(key=lambda o: (not o.color, o.distance, -o.confidence))
        return matches[0]
