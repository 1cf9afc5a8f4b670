"""An rclpy ActionClient that can be created on a node an executor is already spinning.

rclpy's ``ActionClient.__init__`` registers the client with its node (``add_waitable``) before
it creates the lock its wait-set methods take. An executor that builds its wait set in that
window raises ``AttributeError: 'ActionClient' object has no attribute '_lock'`` in the spin
thread, which ends it: the process stops hearing odometry, lidar and action results. It
happened in CI (`RosRobotApi` and test observers create their clients on spinning nodes).
This subclass makes the lock before registration and keeps it.
"""

from __future__ import annotations

import threading
from typing import Any

from rclpy.action import ActionClient as _RclpyActionClient


class ActionClient(_RclpyActionClient):
    """``rclpy.action.ActionClient`` whose lock exists before the executor can see it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Take the arguments of ``rclpy.action.ActionClient``."""
        self._registration_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    @property
    def _lock(self) -> threading.Lock:
        return self._registration_lock

    @_lock.setter
    def _lock(self, value: threading.Lock) -> None:
        # rclpy assigns a fresh lock at the end of __init__, after registration; a second lock
        # would let the executor and a caller hold different locks around the same handle.
        pass
