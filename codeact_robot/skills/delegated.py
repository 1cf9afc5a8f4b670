"""A goal delegated to an external navigator (Nav2's NavigateToPose), behind the safety layer.

The navigator plans and follows; the safety layer still decides what reaches the base. With
``navigation: nav2`` the skills node validates the goal (a keep-out zone or a point outside the
site is refused before anything is forwarded), hands it to the navigator, and takes the
navigator's velocity commands back (Nav2's controller output remapped to the skills node):
they pass the safety layer like the skills' own, and the skills node stays the only publisher
on the base's command topic. A stop, an e-stop, a safety violation or the robot entering a
keep-out zone cancels the navigator's goal.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

import numpy as np

from codeact_robot.nav.geometry import Point, Pose2, wrap_angle
from codeact_robot.skills.motion import (
    ARRIVED,
    CANCELED,
    NO_PATH,
    REFUSED,
    SAFETY_STOP,
    TIMED_OUT,
    MotionOutcome,
    StepResult,
)

# How the navigator ended a goal, as ``NavigatorPort.result`` reports it.
SUCCEEDED, ABORTED, NAV_CANCELED, REJECTED = 'succeeded', 'aborted', 'canceled', 'rejected'


class NavigatorPort(Protocol):
    """The external navigator as the controller sees it (the node implements it over ROS)."""

    def ready(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the navigator; return whether it is there."""

    def start(self, x: float, y: float, theta: float | None) -> None:
        """Send a goal without waiting (map frame; theta None = any heading)."""

    def result(self) -> tuple[str, str] | None:
        """Return (SUCCEEDED | ABORTED | NAV_CANCELED | REJECTED, message) once it ended."""

    def command(self) -> tuple[float, float, float] | None:
        """Return the navigator's latest velocity command as (time received, v, w)."""

    def cancel(self) -> None:
        """Cancel the running goal without waiting."""


class DelegatedGoalTask:
    """Step a navigator's goal on the control loop: its commands, bounded by the caller."""

    def __init__(self, navigator: NavigatorPort, goal: tuple[float, float, float | None],
                 deadline: float, command_timeout: float, goal_tolerance: float,
                 yaw_tolerance: float, keep_out: Callable[[Point], str | None]) -> None:
        self.navigator = navigator
        self.goal = goal
        self.deadline = deadline
        self.command_timeout = command_timeout
        self.goal_tolerance = goal_tolerance
        self.yaw_tolerance = yaw_tolerance
        self.keep_out = keep_out
        self._started = False
        self._cancelled = False

    def step(self, now: float, pose: Pose2, scan_map: np.ndarray | None = None,
             velocity: tuple[float, float] | None = None) -> StepResult:
        """Return the navigator's command for this cycle, or how the goal ended."""
        x, y, theta = self.goal
        if not self._started:
            self._started = True
            self.navigator.start(x, y, theta)
        remaining = math.dist(pose[:2], (x, y))
        ended = self.navigator.result()
        if ended is not None:
            return StepResult(None, self._outcome(ended, pose, remaining), remaining, 0.0,
                              'ended')
        if now > self.deadline:
            self.abort()
            return StepResult(None, MotionOutcome(TIMED_OUT, f'timed out with {remaining:.1f} m '
                                                  'to go (the navigator did not arrive)'),
                              remaining, 0.0, 'timeout')
        refusal = self.keep_out(pose[:2])
        if refusal is not None:
            self.abort()
            return StepResult(None, MotionOutcome(SAFETY_STOP, f'safety stop: the navigator '
                                                  f'drove the robot where it may not go '
                                                  f'({refusal})'), remaining, 0.0, 'stopped')
        command = self.navigator.command()
        if command is None or now - command[0] > self.command_timeout:
            return StepResult((0.0, 0.0), None, remaining, 0.0, 'waiting for the navigator')
        return StepResult((command[1], command[2]), None, remaining, 0.0, 'navigating')

    def _outcome(self, ended: tuple[str, str], pose: Pose2, remaining: float) -> MotionOutcome:
        status, message = ended
        x, y, theta = self.goal
        if status == SUCCEEDED:
            heading = 0.0 if theta is None else abs(wrap_angle(theta - pose[2]))
            if remaining <= 2 * self.goal_tolerance and heading <= 2 * self.yaw_tolerance:
                return MotionOutcome(ARRIVED, f'arrived at ({pose[0]:.2f}, {pose[1]:.2f})')
            return MotionOutcome(NO_PATH, f'the navigator reported success {remaining:.2f} m '
                                 f'from the goal; call move_to again')
        if status == NAV_CANCELED:
            return MotionOutcome(CANCELED, 'canceled')
        if status == REJECTED:
            return MotionOutcome(REFUSED, f'the navigator refused the goal: {message}')
        return MotionOutcome(NO_PATH, f'the navigator gave up {remaining:.1f} m from the goal: '
                             f'{message or "no reason given"}')

    def abort(self) -> None:
        """Cancel the navigator's goal (once): the motion ends here, whoever ends it."""
        if self._started and not self._cancelled and self.navigator.result() is None:
            self._cancelled = True
            self.navigator.cancel()
