"""Pure-pursuit path follower for a differential-drive robot, with a final heading phase."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from codeact_robot.nav.geometry import Point, Pose2, densify, point_segment_distance, wrap_angle


@dataclass(frozen=True)
class FollowerConfig:
    """Tuning of the follower (speeds are requests; the safety layer still limits them)."""

    lookahead: float = 0.5
    goal_tolerance: float = 0.08
    yaw_tolerance: float = 0.05
    rotate_in_place_angle: float = 0.4
    heading_gain: float = 2.0
    approach_gain: float = 1.0
    min_speed: float = 0.05
    min_turn_rate: float = 0.12
    # Heading change per control step below which the base counts as no longer turning (rad).
    settle_rate: float = 0.002
    # Measured turn rate below which the base counts as stopped (rad/s).
    settle_turn_rate: float = 0.03


@dataclass(frozen=True)
class FollowCommand:
    """One control step: velocities, whether the goal is reached, what remains."""

    linear: float
    angular: float
    done: bool
    distance_remaining: float
    phase: str


class PathFollower:
    """Follow a polyline with pure pursuit; then turn to an optional final heading."""

    def __init__(self, waypoints: Sequence[Point], speed: float, max_angular: float,
                 final_theta: float | None = None,
                 config: FollowerConfig | None = None) -> None:
        if len(waypoints) < 1:
            raise ValueError('a path needs at least one waypoint')
        self.config = config or FollowerConfig()
        self.path = densify(waypoints, 0.05)
        self.speed = speed
        self.max_angular = max_angular
        self.final_theta = final_theta
        self._index = 0
        self._reached_position = False
        self._last_theta: float | None = None

    @property
    def goal(self) -> Point:
        """Return the last point of the path."""
        return self.path[-1]

    def remaining_path(self, max_length: float) -> list[Point]:
        """Return the path ahead of the robot's progress point, up to ``max_length`` metres."""
        out = [self.path[self._index]]
        length = 0.0
        for p in self.path[self._index + 1:]:
            length += math.dist(out[-1], p)
            out.append(p)
            if length >= max_length:
                break
        return out

    def _progress(self, pose: Pose2) -> None:
        # Advance monotonically along the path (never jump back to an earlier, crossing part).
        best, best_d = self._index, math.inf
        stop = min(len(self.path) - 1, self._index + 40)
        for i in range(self._index, stop):
            d, _ = point_segment_distance(pose[:2], self.path[i], self.path[i + 1])
            if d < best_d - 1e-9:
                best, best_d = i, d
        self._index = best

    def _remaining(self, pose: Pose2) -> float:
        rest = math.dist(pose[:2], self.path[min(self._index + 1, len(self.path) - 1)])
        for i in range(self._index + 1, len(self.path) - 1):
            rest += math.dist(self.path[i], self.path[i + 1])
        return rest

    def step(self, pose: Pose2, velocity: tuple[float, float] | None = None) -> FollowCommand:
        """Return the command for the current map pose and measured (v, w), if known."""
        cfg = self.config
        x, y, th = pose
        dist_goal = math.dist((x, y), self.goal)
        if not self._reached_position and dist_goal <= cfg.goal_tolerance:
            self._reached_position = True
        last, self._last_theta = self._last_theta, th
        if self._reached_position:
            if self.final_theta is None:
                return FollowCommand(0.0, 0.0, True, 0.0, 'arrived')
            err = wrap_angle(self.final_theta - th)
            if abs(err) <= cfg.yaw_tolerance:
                # Done only once the base has stopped turning: a late stop overshoots, and the
                # overshoot is corrected before reporting arrival.
                if velocity is not None:
                    settled = abs(velocity[0]) < 0.02 and abs(velocity[1]) < cfg.settle_turn_rate
                else:
                    settled = last is not None and abs(wrap_angle(th - last)) < cfg.settle_rate
                return FollowCommand(0.0, 0.0, settled, 0.0, 'arrived' if settled else 'settling')
            return FollowCommand(0.0, self._turn_rate(err), False, 0.0, 'aligning')
        self._progress(pose)
        remaining = self._remaining(pose)
        target = self._lookahead_point(pose)
        heading = math.atan2(target[1] - y, target[0] - x)
        alpha = wrap_angle(heading - th)
        if abs(alpha) > cfg.rotate_in_place_angle:
            return FollowCommand(0.0, self._turn_rate(alpha), False, remaining, 'turning')
        # Slow down near the goal so the final position is reached without overshoot.
        v = min(self.speed, max(cfg.min_speed, cfg.approach_gain * remaining))
        ld = max(math.dist((x, y), target), 1e-3)
        curvature = 2.0 * math.sin(alpha) / ld
        w = v * curvature
        if abs(w) > self.max_angular:
            # Keep the path's curvature by slowing down rather than cutting the corner.
            v *= self.max_angular / abs(w)
            w = math.copysign(self.max_angular, w)
        return FollowCommand(v, w, False, remaining, 'following')

    def _turn_rate(self, err: float) -> float:
        w = self.config.heading_gain * err
        w = math.copysign(max(abs(w), self.config.min_turn_rate), w)
        return max(-self.max_angular, min(self.max_angular, w))

    def _lookahead_point(self, pose: Pose2) -> Point:
        ld = self.config.lookahead
        for p in self.path[self._index:]:
            if math.dist(pose[:2], p) >= ld:
                return p
        return self.goal
