"""Motion skills as step-able tasks: follow a planned route, drive straight / turn in place.

The skills node calls ``step()`` once per control cycle with the current map pose and lidar
points; a task returns either a velocity request (which then passes the safety layer) or its
outcome. Tasks never publish anything themselves.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from codeact_robot.nav.follower import FollowerConfig, PathFollower
from codeact_robot.nav.geometry import Point, Pose2, densify, wrap_angle
from codeact_robot.safety.monitor import Footprint

# Outcome statuses: api.types.MOTION_STATUS_CODES names them all, with their action codes.
ARRIVED = 'arrived'
BLOCKED = 'blocked'
TIMED_OUT = 'timed_out'
SAFETY_STOP = 'safety_stop'
CANCELED = 'canceled'
INVALID = 'invalid'
NO_PATH = 'no_path'
REFUSED = 'refused'  # the safety layer refused the goal before anything moved
ESTOP = 'estop'  # the e-stop is latched or was pressed


@dataclass(frozen=True)
class MotionOutcome:
    """How a motion ended (status is one of the module's constants)."""

    status: str
    message: str
    blocked_at: Point | None = None
    blocked_aisle: str | None = None
    obstacle_distance: float | None = None


@dataclass(frozen=True)
class StepResult:
    """A velocity request for this cycle, or the outcome; plus progress for feedback."""

    command: tuple[float, float] | None
    outcome: MotionOutcome | None
    distance_remaining: float
    angle_remaining: float
    phase: str


def _fmt(p: Point) -> str:
    return f'({p[0]:.2f}, {p[1]:.2f})'


class FollowPathTask:
    """Follow a planned route; stop with BLOCKED when a lidar return lies on the route ahead."""

    def __init__(self, waypoints: Sequence[Point], speed: float, max_angular: float,
                 final_theta: float | None, deadline: float, footprint: Footprint,
                 aisle_at: Callable[[float, float], str | None],
                 block_lookahead: float = 1.2, block_margin: float = 0.05,
                 near_goal: float = 0.12, config: FollowerConfig | None = None) -> None:
        self.follower = PathFollower(waypoints, speed, max_angular, final_theta, config)
        self.deadline = deadline
        self.footprint = footprint
        self.aisle_at = aisle_at
        self.block_lookahead = block_lookahead
        self.block_margin = block_margin
        self.near_goal = near_goal
        self.goal = tuple(waypoints[-1])

    def step(self, now: float, pose: Pose2, scan_map: np.ndarray,
             velocity: tuple[float, float] | None = None) -> StepResult:
        """Return the command or outcome for this cycle (velocity: measured (v, w))."""
        cmd = self.follower.step(pose, velocity)
        remaining = cmd.distance_remaining
        if cmd.done:
            return StepResult(None, MotionOutcome(ARRIVED, f'arrived at {_fmt(pose[:2])}'),
                              0.0, 0.0, 'arrived')
        if now > self.deadline:
            return StepResult(None, MotionOutcome(
                TIMED_OUT, f'timed out at {_fmt(pose[:2])} with {remaining:.1f} m to go; '
                           'call move_to again or pick another goal'), remaining, 0.0, 'timeout')
        if cmd.linear != 0.0 and remaining > self.near_goal:
            hit = self._obstacle_on_route(pose, scan_map)
            if hit is not None:
                return StepResult(None, self.blocked(pose, *hit), remaining, 0.0, 'blocked')
        return StepResult((cmd.linear, cmd.angular), None, remaining, 0.0, cmd.phase)

    def near_end(self, pose: Pose2) -> bool:
        """Return True when the robot is within the near-goal distance of the route's end."""
        return math.dist(pose[:2], self.goal) <= self.near_goal

    def _obstacle_on_route(self, pose: Pose2, scan_map: np.ndarray
                           ) -> tuple[Point, float] | None:
        if len(scan_map) == 0:
            return None
        ahead = densify(self.follower.remaining_path(self.block_lookahead), 0.05)
        path = np.asarray(ahead)
        arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(path, axis=0), axis=1))])
        # The first part of the route lies under the robot's own body.
        keep = arc >= self.footprint.front
        if not keep.any():
            return None
        path, arc = path[keep], arc[keep]
        near = scan_map[np.linalg.norm(scan_map - np.asarray(pose[:2]), axis=1)
                        <= self.block_lookahead + self.footprint.radius]
        if len(near) == 0:
            return None
        d = np.linalg.norm(path[:, None, :] - near[None, :, :], axis=2)
        hits = d <= self.footprint.half_width + self.block_margin
        rows = np.flatnonzero(hits.any(axis=1))
        if len(rows) == 0:
            return None
        i = int(rows[0])
        k = int(np.argmin(d[i]))
        point = near[k]
        # Distance along the route to where the obstacle sits, minus the body's front.
        along = float(arc[int(np.argmin(d[:, k]))])
        return (float(point[0]), float(point[1])), max(0.0, along - self.footprint.front)

    def blocked(self, pose: Pose2, obstacle: Point | None, distance: float) -> MotionOutcome:
        """Return the BLOCKED outcome for an obstacle at ``obstacle`` ``distance`` m ahead."""
        aisle = None
        if obstacle is not None:
            aisle = self.aisle_at(*obstacle)
        aisle = aisle or self.aisle_at(pose[0], pose[1]) or self._next_aisle()
        where = f'in {aisle} ' if aisle else ''
        return MotionOutcome(
            BLOCKED, f'blocked {where}at {_fmt(pose[:2])}: obstacle {distance:.1f} m ahead',
            blocked_at=(pose[0], pose[1]), blocked_aisle=aisle, obstacle_distance=distance)

    def _next_aisle(self) -> str | None:
        for p in self.follower.remaining_path(3.0):
            aisle = self.aisle_at(*p)
            if aisle:
                return aisle
        return None


class DriveTask:
    """Drive straight by ``distance`` (holding the start heading), then turn by ``angle``."""

    def __init__(self, distance: float, angle: float, speed: float, max_angular: float,
                 deadline: float, linear_tolerance: float = 0.01,
                 angular_tolerance: float = 0.02, gain: float = 1.5) -> None:
        self.distance = distance
        self.angle = angle
        self.speed = speed
        self.max_angular = max_angular
        self.deadline = deadline
        self.linear_tolerance = linear_tolerance
        self.angular_tolerance = angular_tolerance
        self.gain = gain
        self._start: Pose2 | None = None
        self._last_theta = 0.0
        self._turned = 0.0
        self._straight_done = abs(distance) <= linear_tolerance
        self._last_pose: Pose2 | None = None
        self._prev_pose: Pose2 | None = None
        self._velocity: tuple[float, float] | None = None

    def _stopped(self, pose: Pose2) -> bool:
        if self._velocity is not None:
            return abs(self._velocity[0]) < 0.02 and abs(self._velocity[1]) < 0.03
        prev = self._prev_pose
        return prev is not None and abs(wrap_angle(pose[2] - prev[2])) < 0.002 \
            and math.dist(pose[:2], prev[:2]) < 0.002

    def step(self, now: float, pose: Pose2, scan_map: np.ndarray | None = None,
             velocity: tuple[float, float] | None = None) -> StepResult:
        """Return the command or outcome for this cycle (velocity: measured (v, w))."""
        self._velocity = velocity
        if self._start is None:
            self._start = pose
            self._last_theta = pose[2]
        x0, y0, th0 = self._start
        driven = (pose[0] - x0) * math.cos(th0) + (pose[1] - y0) * math.sin(th0)
        dist_left = 0.0 if self._straight_done else abs(self.distance) - math.copysign(
            1.0, self.distance) * driven
        self._turned += wrap_angle(pose[2] - self._last_theta)
        self._prev_pose, self._last_theta = self._last_pose, pose[2]
        self._last_pose = pose
        if now > self.deadline:
            return StepResult(None, MotionOutcome(
                TIMED_OUT, f'timed out at {_fmt(pose[:2])}'), max(dist_left, 0.0),
                self.angle - self._turned, 'timeout')
        if not self._straight_done:
            if dist_left <= self.linear_tolerance:
                self._straight_done = True
                self._turned = 0.0
            else:
                v = math.copysign(min(self.speed, max(0.04, self.gain * dist_left)),
                                  self.distance)
                w = max(-self.max_angular,
                        min(self.max_angular, 2.0 * wrap_angle(th0 - pose[2])))
                return StepResult((v, w), None, dist_left, self.angle, 'driving')
        rest = self.angle - self._turned
        if abs(rest) <= self.angular_tolerance:
            # Report only once the base stopped turning (a late stop is corrected first).
            if self._stopped(pose):
                return StepResult(None, MotionOutcome(ARRIVED, f'done at {_fmt(pose[:2])}'),
                                  0.0, 0.0, 'done')
            return StepResult((0.0, 0.0), None, 0.0, rest, 'settling')
        w = math.copysign(min(self.max_angular, max(0.12, 2.0 * abs(rest))), rest)
        return StepResult((0.0, w), None, 0.0, rest, 'turning')
