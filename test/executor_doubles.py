"""Test doubles for the executor tests: a robot API double that records what happened."""

from __future__ import annotations

import threading

from codeact_robot.api.errors import RobotApiError
from codeact_robot.executor.offline_robot import OfflineRobotDouble


class RecordingRobotApiDouble(OfflineRobotDouble):
    """RobotApi double (no ROS): realistic result types, records calls and emergency stops.

    ``fail_with`` makes the next motion raise that exception (e.g. a RuntimeError to simulate
    an infrastructure failure); ``block_motion`` makes move_to hang until emergency_stop.
    """

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.fail_with: BaseException | None = None
        self.block_motion = False
        self._stopped = threading.Event()

    def move_to(self, x, y, theta=None, speed=None, avoid=None):
        self.calls.append('move_to')
        if self.fail_with is not None:
            exc, self.fail_with = self.fail_with, None
            raise exc
        if self.block_motion:
            # Like a real action client: returns when the goal is canceled by emergency_stop.
            self._stopped.wait(timeout=30.0)
            raise RobotApiError('motion canceled')
        return super().move_to(x, y, theta, speed, avoid)

    def block_next_motions(self, block: bool = True) -> None:
        """Make move_to hang until the next emergency_stop (or stop doing so)."""
        self._stopped.clear()
        self.block_motion = block

    def emergency_stop(self, reason: str) -> None:
        super().emergency_stop(reason)
        self._stopped.set()
