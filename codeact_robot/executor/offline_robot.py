"""OfflineRobotDouble: a ROS-free stand-in robot for trying the sandbox (``--robot double``).

It is a test double, not a simulator: motions teleport the pose at once, perception returns a
fixed box near the shelves, and the API errors behave as the contract says (unknown places,
keep-out refusals as SafetyStopError, invalid numbers). It records emergency stops.
"""

from __future__ import annotations

import math

from codeact_robot.api.errors import (
    EStopActiveError,
    GraspError,
    InvalidArgumentError,
    NotFoundError,
    SafetyStopError,
)
from codeact_robot.api.robot_api import RobotApi
from codeact_robot.api.types import Detection, MoveResult, Place, Pose, Route

PLACES: dict[str, Place] = {
    'start': Place('start', 0.0, 0.0, 0.0, 'start', 'where the robot starts'),
    'shelf A': Place('shelf A', 2.0, 3.0, math.pi / 2, 'shelf', 'red boxes'),
    'shelf B': Place('shelf B', 3.0, 3.0, math.pi / 2, 'shelf', 'blue boxes'),
    'packing station': Place('packing station', 6.0, 0.0, 0.0, 'station', 'drop boxes here'),
    'dock': Place('dock', -1.0, 0.0, math.pi, 'dock', 'charging dock'),
}
KEEP_OUT = (4.0, 5.0, -1.0, 1.0)  # x_min, x_max, y_min, y_max of the forklift zone
MAX_SPEED = 1.0


class OfflineRobotDouble(RobotApi):
    """Contract-conforming robot double with instantaneous motion (no ROS, no physics)."""

    def __init__(self) -> None:
        self.pose = Pose(0.0, 0.0, 0.0)
        self.held: str | None = None
        self.estopped = False
        self.stops: list[str] = []
        self.said: list[str] = []
        self.blocked: list[str] = []

    def _check(self, **values: float | None) -> None:
        for name, value in values.items():
            if value is not None and not math.isfinite(value):
                raise InvalidArgumentError(f'{name} must be a finite number, got {value}')
        if self.estopped:
            raise EStopActiveError('the emergency stop is latched; a person must reset it')

    def _arrive(self, x: float, y: float, theta: float) -> MoveResult:
        if KEEP_OUT[0] <= x <= KEEP_OUT[1] and KEEP_OUT[2] <= y <= KEEP_OUT[3]:
            raise SafetyStopError(f'goal ({x:.2f}, {y:.2f}) is inside keep-out zone '
                                  "'forklift area'; choose another goal")
        self.pose = Pose(x, y, theta)
        return MoveResult('arrived', 'arrived', self.pose)

    def get_pose(self) -> Pose:
        """Return the pose."""
        return self.pose

    def locations(self) -> dict[str, Place]:
        """Return the places."""
        return dict(PLACES)

    def move_to(self, x: float, y: float, theta: float | None = None,
                speed: float | None = None, avoid: list[str] | None = None) -> MoveResult:
        """Teleport to (x, y) unless refused."""
        self._check(x=x, y=y, theta=theta, speed=speed)
        if speed is not None and not 0 < speed <= MAX_SPEED:
            raise InvalidArgumentError(f'speed must be in (0, {MAX_SPEED}] m/s, got {speed}')
        return self._arrive(x, y, self.pose.theta if theta is None else theta)

    def move(self, distance: float, speed: float | None = None) -> MoveResult:
        """Teleport straight ahead."""
        self._check(distance=distance, speed=speed)
        if abs(distance) > 2.0:
            raise InvalidArgumentError(f'distance must be within 2 m per call, got {distance}')
        return self._arrive(self.pose.x + distance * math.cos(self.pose.theta),
                            self.pose.y + distance * math.sin(self.pose.theta), self.pose.theta)

    def turn(self, angle: float) -> MoveResult:
        """Turn in place."""
        self._check(angle=angle)
        theta = math.atan2(math.sin(self.pose.theta + angle), math.cos(self.pose.theta + angle))
        self.pose = Pose(self.pose.x, self.pose.y, theta)
        return MoveResult('arrived', 'turned', self.pose)

    def stop(self) -> None:
        """Nothing moves between calls."""

    def plan_route(self, x: float, y: float, avoid: list[str] | None = None) -> Route:
        """Return a straight-line route."""
        self._check(x=x, y=y)
        length = math.hypot(x - self.pose.x, y - self.pose.y)
        return Route(True, 'ok', length, [(self.pose.x, self.pose.y), (x, y)], [], [])

    def blocked_aisles(self) -> list[str]:
        """Return the blocked aisles."""
        return list(self.blocked)

    def perceive(self) -> list[Detection]:
        """Return the red box near shelf A and the blue one near shelf B when close."""
        out = []
        for color, place in (('red', PLACES['shelf A']), ('blue', PLACES['shelf B'])):
            dist = math.hypot(place.x - self.pose.x, place.y + 0.5 - self.pose.y)
            if dist < 2.0:
                out.append(Detection(f'{color} box', color, None, place.x, place.y + 0.5,
                                     dist, 0.0, 0.9))
        return sorted(out, key=lambda d: d.distance)

    def grasp(self, target: str) -> bool:
        """Grasp a visible box."""
        self._check()
        if self.held is not None:
            raise GraspError(f'already holding the {self.held}; release it first')
        for det in self.perceive():
            if target in (det.color, det.label):
                self.held = det.label
                return True
        raise NotFoundError(f'no {target!r} visible from here; go to its shelf first')

    def release(self) -> None:
        """Drop what is held."""
        self.held = None

    def holding(self) -> bool:
        """Return whether something is held."""
        return self.held is not None

    def wait(self, seconds: float) -> None:
        """Return at once (the double has no clock)."""
        self._check(seconds=seconds)
        if not 0 <= seconds <= 30:
            raise InvalidArgumentError(f'seconds must be in [0, 30], got {seconds}')

    def say(self, text: str) -> None:
        """Record what was said."""
        self.said.append(text)

    def emergency_stop(self, reason: str) -> None:
        """Record the stop."""
        self.stops.append(reason)
