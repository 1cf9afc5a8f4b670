"""The skills node's camera input: subscribed on demand, colour and depth paired by stamp.

A simulator renders only for subscribers and rendering costs a core, so the topics are
subscribed while perception is in use and dropped after ``IDLE_SECONDS`` without a request.
Frames are paired by capture stamp (``skills.perceive.RgbdPairer``) and placed at the odometry
pose of that stamp, not where the robot stands when the frame arrives.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image

from codeact_robot.api.types import Pose
from codeact_robot.skills.navigator import Navigator
from codeact_robot.skills.perceive import RgbdPairer, StampedImage

IDLE_SECONDS = 10.0


def stamp_seconds(stamp: Any) -> float:
    """Return a builtin_interfaces/Time as seconds."""
    return stamp.sec + stamp.nanosec * 1e-9


class CameraInput:
    """Colour, depth and intrinsics of one camera, for the node's perception and grasping."""

    def __init__(self, node: Node, topics: tuple[str, str, str], nav: Navigator,
                 fresh_stamp: Callable[[float], float], now: Callable[[], float],
                 sync_tolerance: float, callback_group: Any,
                 keep_on: Callable[[], bool] = lambda: False) -> None:
        """Create the input; nothing is subscribed until the first ``latest_rgbd``.

        ``fresh_stamp`` maps a header stamp to the clock ``now`` reads (the controller's
        jump-safe data clock); ``keep_on`` keeps the camera subscribed while it says so.
        """
        self._node = node
        self._topics = topics
        self._nav = nav
        self._fresh_stamp = fresh_stamp
        self._now = now
        self._group = callback_group
        self._keep_on = keep_on
        self._lock = threading.Lock()
        self._frames = RgbdPairer(sync_tolerance)
        self._k: np.ndarray | None = None
        self._subs: list[Any] = []
        self._used = -np.inf
        node.create_timer(1.0, self._idle_check, callback_group=callback_group)

    def latest_rgbd(self, timeout: float = 5.0
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, Pose] | None:
        """Return a camera frame taken after this call: (rgb, depth, K, map pose), or None.

        Colour and depth come from one capture (paired by header stamp) and the pose is the
        odometry pose at that capture's stamp: a lagging executor delivers frames late, and
        a frame taken while the robot still moved must not be placed where it stands now.
        The first call after a pause waits for the stream to start.
        """
        asked = self._now()
        self._subscribe()
        wall_deadline = time.monotonic() + timeout
        while True:
            last_try = time.monotonic() >= wall_deadline
            with self._lock:
                pair = self._frames.newest_pair(since=asked)
                k = self._k
            if pair is not None and k is not None:
                found = self._nav.odom_at(pair[0].stamp)
                # Wait for odometry to pass the capture time (it may lag like the camera),
                # unless time is up: then the pose is extrapolated from the last twist.
                if found is not None and (found[1] or last_try):
                    pose = self._nav.odom_to_map(found[0])
                    return pair[0].data, pair[1].data, k, Pose(*pose)
            if last_try:
                return None
            time.sleep(0.02)

    def _stamped(self, msg: Image, data: np.ndarray) -> StampedImage:
        stamp = stamp_seconds(msg.header.stamp)
        return StampedImage(stamp, self._fresh_stamp(stamp), data)

    def _on_image(self, msg: Image) -> None:
        data = np.frombuffer(msg.data, dtype=np.uint8).reshape(msg.height, msg.step)
        img = data[:, :msg.width * 3].reshape(msg.height, msg.width, 3)
        if msg.encoding.lower() == 'bgr8':
            img = img[:, :, ::-1]
        image = self._stamped(msg, img.copy())
        with self._lock:
            self._frames.add_rgb(image)

    def _on_depth(self, msg: Image) -> None:
        data = np.frombuffer(msg.data, dtype=np.float32).reshape(msg.height, msg.step // 4)
        image = self._stamped(msg, data[:, :msg.width].copy())
        with self._lock:
            self._frames.add_depth(image)

    def _on_info(self, msg: CameraInfo) -> None:
        self._k = np.asarray(msg.k, dtype=float).reshape(3, 3)

    def _subscribe(self) -> None:
        image, depth, info = self._topics
        with self._lock:
            self._used = time.monotonic()
            if self._subs:
                return
            for kind, topic, cb in ((Image, image, self._on_image), (Image, depth, self._on_depth),
                                    (CameraInfo, info, self._on_info)):
                self._subs.append(self._node.create_subscription(
                    kind, topic, cb, qos_profile_sensor_data, callback_group=self._group))
            self._frames.clear()

    def _idle_check(self) -> None:
        with self._lock:
            if self._subs and time.monotonic() - self._used > IDLE_SECONDS \
                    and not self._keep_on():
                for sub in self._subs:
                    self._node.destroy_subscription(sub)
                self._subs = []
