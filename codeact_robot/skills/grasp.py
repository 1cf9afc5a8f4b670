"""The grasp skill: find a box, line up with it, drive to contact, suction on, verify, back off.

ROS-message-free. The skills node implements ``GraspMotionPort`` (all motion through its safety
layer) and serves /skills/grasp (Grasp.action) by calling ``GraspSkill.run``; ``GraspStatus``
values equal the Grasp.action result constants.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

import numpy as np

from codeact_robot.api.types import Detection, Pose
from codeact_robot.perception.detector import BoxObservation
from codeact_robot.skills.perceive import (
    InvalidTargetError,
    PerceptionSkill,
    RgbdFrame,
    parse_target,
)


class GraspStatus(IntEnum):
    """Outcome codes; the values are Grasp.action's result constants."""

    HELD = 0
    NOT_FOUND = 1
    UNREACHABLE = 2
    NOT_HELD = 3
    SAFETY_STOP = 4
    CANCELED = 5
    INVALID = 6
    ESTOP = 7


@dataclass(frozen=True)
class GraspOutcome:
    """Result of one grasp: status, a message for the model, and whether a box is held."""

    status: GraspStatus
    message: str
    holding: bool
    detection: Detection | None = None

    @property
    def ok(self) -> bool:
        """True when the box is held."""
        return self.status == GraspStatus.HELD


class MotionStatus(Protocol):
    """What a port motion returns: a MoveResult-like object (or a bare status string)."""

    status: str
    message: str


class GraspMotionPort(Protocol):
    """What the grasp skill needs from the robot; the skills node implements it.

    Motions block until done and return a MoveResult-like object or a status string:
    'arrived', 'blocked', 'timed_out', 'safety_stop', 'canceled', 'estop', 'refused', 'invalid'
    (``api.types.MOTION_STATUS_CODES``).
    """

    def latest_rgbd(self) -> RgbdFrame | None:
        """Return the newest camera frame with the map pose at its capture time, or None."""

    def drive_straight(self, distance: float, speed: float,
                       contact: bool = False) -> MotionStatus | str:
        """Drive straight (negative = backwards) through the safety layer.

        With contact=True the motion ends touching an object ahead: the safety layer lets the
        robot come closer than its obstacle distance, at no more than contact speed.
        """

    def turn(self, angle: float) -> MotionStatus | str:
        """Turn in place by angle (rad, positive = left) through the safety layer."""

    def set_suction(self, on: bool) -> None:
        """Switch the suction gripper."""

    def holding(self) -> bool:
        """Return the gripper's vacuum-sealed state (/gripper/state holding)."""

    def stop(self) -> None:
        """Bring the robot to a stop now."""

    def wait(self, seconds: float) -> None:
        """Let time pass without moving (sensor settling, suction sealing)."""


@dataclass(frozen=True)
class GraspConfig:
    """Tunables of the grasp skill (metres, radians, m/s, seconds)."""

    search_angle: float = 0.5
    # Farthest box face (from the suction pad) the skill approaches on its own.
    max_reach: float = 1.6
    # Pad-to-face gap at which the robot stops, looks again and lines up before contact.
    standoff: float = 0.35
    approach_speed: float = 0.25
    contact_speed: float = 0.08
    # How far past the measured face the contact approach aims, so the pad touches.
    press: float = 0.015
    lateral_tolerance: float = 0.025
    heading_tolerance: float = 0.03
    # A refined approach heading this much off the first one is worth a second line-up.
    refine_tolerance: float = 0.06
    # Beyond this bearing the robot is not facing the box's side: approach along the line of
    # sight instead of along the current heading.
    max_approach_bearing: float = 0.6
    # Snap the approach to a seen face's normal only if the face is turned at most
    # max_face_angle from the line of sight and max_face_correction from the rough heading.
    max_face_angle: float = 0.7
    max_face_correction: float = 0.6
    suction_timeout: float = 1.0
    creep_step: float = 0.015
    creep_attempts: int = 2
    back_off: float = 0.3
    settle_time: float = 0.25
    max_linear_speed: float = 0.5


class _Abort(Exception):
    """Unwinds the grasp sequence with a final outcome."""

    def __init__(self, status: GraspStatus, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


def _status_of(result: MotionStatus | str) -> tuple[str, str]:
    if isinstance(result, str):
        return result, ''
    return str(getattr(result, 'status', '')), str(getattr(result, 'message', ''))


class GraspSkill:
    """Pick up a box with the suction gripper, using the camera and the motion port."""

    def __init__(self, world: object, perception: PerceptionSkill, motion: GraspMotionPort,
                 limits: object | None = None, config: GraspConfig | None = None) -> None:
        """Create the skill.

        Args:
            world: The World (robot.pad_x and robot.pad_size place the suction pad's face).
            perception: The PerceptionSkill that finds the target in camera frames.
            motion: The port through which every motion goes (the skills node's safety layer).
            limits: Optional object with max_linear_speed (m/s); speeds are capped to it.
            config: Tunables.
        """
        robot = world.robot  # type: ignore[attr-defined]
        self.pad_front = float(robot.pad_x) + float(robot.pad_size[0]) / 2.0
        self._half_width = float(robot.footprint[1]) / 2.0
        # Shelves, walls and stations: a standoff pose inside them cannot be reached.
        obstacles = getattr(world, 'static_obstacles', None)
        self._furniture = list(obstacles()) if callable(obstacles) else []
        self.perception = perception
        self.motion = motion
        self.config = config or GraspConfig()
        cap = getattr(limits, 'max_linear_speed', None)
        self._max_speed = min(self.config.max_linear_speed, float(cap) if cap else math.inf)
        self._should_cancel: Callable[[], bool] = lambda: False
        self._feedback: Callable[[str, float], None] = lambda phase, distance: None
        self._label = ''
        self._last_pose = Pose(0.0, 0.0, 0.0)
        self._suction_on = False

    def run(self, target: str, should_cancel: Callable[[], bool] | None = None,
            feedback: Callable[[str, float], None] | None = None) -> GraspOutcome:
        """Grasp the target ('red', 'red box', 'marker 3'); never raises for robot failures.

        Args:
            target: What to pick up.
            should_cancel: Polled between steps; True ends the grasp with CANCELED.
            feedback: Called with (phase, distance to the box face in m); phases are
                searching, aligning, approaching, suction, verifying.
        """
        self._should_cancel = should_cancel or (lambda: False)
        self._feedback = feedback or (lambda phase, distance: None)
        self._suction_on = False
        detection: Detection | None = None
        try:
            wanted = parse_target(target)
        except InvalidTargetError as e:
            return GraspOutcome(GraspStatus.INVALID, f'{e}.', self._holding())
        self._label = wanted if wanted.startswith('marker') else f'{wanted} box'
        if self._holding():
            return GraspOutcome(GraspStatus.INVALID,
                                'Already holding a box: release() it where it belongs before '
                                'grasping another.', True)
        try:
            obs = self._search(wanted)
            detection = obs.to_detection()
            message = self._grasp(wanted, obs)
            return GraspOutcome(GraspStatus.HELD, message, True, detection)
        except _Abort as abort:
            if abort.status in (GraspStatus.SAFETY_STOP, GraspStatus.CANCELED):
                self.motion.stop()
            if self._suction_on and not self._holding():
                # Never leave the vacuum running on nothing after a failed grasp.
                self.motion.set_suction(False)
            return GraspOutcome(abort.status, abort.message, self._holding(), detection)

    # -- steps ------------------------------------------------------------------------------

    def _search(self, wanted: str) -> BoxObservation:
        """Look; if the target is not in view, turn left and right a little and look again."""
        self._feedback('searching', 0.0)
        step = self.config.search_angle
        turned = 0.0
        seen: list[str] = []
        for turn in (0.0, step, -2.0 * step):
            if turn:
                self._turn(turn, 'searching')
                turned += turn
            frame = self._frame()
            observations = self.perception.observe(frame)
            seen.extend(o.label for o in observations)
            found = [o for o in observations if o.matches(wanted)]
            if found:
                found.sort(key=lambda o: (not o.color, o.distance))
                return found[0]
        self._turn(-turned, 'searching')
        visible = sorted(set(seen))
        also = f' Visible instead: {", ".join(visible)}.' if visible else ' Nothing is visible.'
        raise _Abort(GraspStatus.NOT_FOUND,
                     f'No {self._label} in view here (looked {math.degrees(step):.0f} degrees '
                     f'left and right).{also} go_to the shelf or place that holds it (see '
                     'locations()), check with perceive(), then call grasp again.')

    def _grasp(self, wanted: str, obs: BoxObservation) -> str:
        cfg = self.config
        frame_pose = self._last_pose
        reach = obs.face_distance - self.pad_front
        if reach > cfg.max_reach:
            hint_x, hint_y, hint_theta = self._standoff_hint(obs, frame_pose)
            raise _Abort(GraspStatus.UNREACHABLE,
                         f'The {self._label} is {obs.distance:.1f} m away; grasp reaches about '
                         f'{cfg.max_reach:.1f} m. Drive closer first, e.g. move_to({hint_x:.2f}, '
                         f'{hint_y:.2f}, theta={hint_theta:.2f}), then call grasp again.')
        heading = self._approach_heading(obs, frame_pose, frame_pose.theta)
        self._feedback('aligning', reach)
        self._line_up(obs, heading)
        obs, pose = self._look_for(wanted, 'lining up')
        # From the standoff the face is seen square and close: refine the approach once.
        refined = self._approach_heading(obs, pose, heading)
        if (abs(self._lateral(obs, pose, refined)) > cfg.lateral_tolerance
                or abs(_wrap(refined - heading)) > cfg.refine_tolerance):
            heading = refined
            self._line_up(obs, heading)
            obs, pose = self._look_for(wanted, 'lining up')
        if abs(_wrap(heading - pose.theta)) > cfg.heading_tolerance:
            self._turn(_wrap(heading - pose.theta), 'aligning')
        along = ((obs.face[0] - pose.x) * math.cos(heading)
                 + (obs.face[1] - pose.y) * math.sin(heading))
        gap = along - self.pad_front
        if not -0.05 < gap < cfg.standoff + 0.25:
            raise _Abort(GraspStatus.UNREACHABLE,
                         f'Could not line up with the {self._label} (gap {gap:.2f} m after the '
                         'approach). go_to its shelf again and retry grasp.')
        self._feedback('approaching', max(gap, 0.0))
        # Vacuum on before touching (as suction pickers do): the box seals on contact instead
        # of being pushed along the ledge.
        self.motion.set_suction(True)
        self._suction_on = True
        self._drive(max(gap, 0.0) + cfg.press, cfg.contact_speed, 'touching the box',
                    contact=True)
        self._feedback('suction', 0.0)
        held = self._wait_for_seal()
        for _ in range(cfg.creep_attempts):
            if held:
                break
            self._drive(cfg.creep_step, cfg.contact_speed, 'pressing on the box', contact=True)
            held = self._wait_for_seal()
        if not held:
            self.motion.set_suction(False)
            self._suction_on = False
            self._drive(-cfg.back_off, cfg.approach_speed, 'backing off')
            raise _Abort(GraspStatus.NOT_HELD,
                         f'Suction did not seal on the {self._label} (pad not flat against it). '
                         f'Call grasp("{wanted}") again; if it fails twice, go_to its shelf '
                         'again to line up straight.')
        self._feedback('verifying', 0.0)
        self._drive(-cfg.back_off, cfg.approach_speed, 'backing off with the box')
        if not self._holding():
            raise _Abort(GraspStatus.NOT_HELD,
                         f'The {self._label} slipped off while backing away. perceive() to find '
                         f'it, then call grasp("{wanted}") again.')
        marker = f' (marker {obs.marker_id})' if obs.marker_id is not None else ''
        return (f'Holding the {self._label}{marker}. Carry it with go_to/move_to and call '
                'release() at the destination.')

    # -- geometry ---------------------------------------------------------------------------

    def _approach_heading(self, obs: BoxObservation, pose: Pose, current: float) -> float:
        """Return the heading to drive the pad square onto the box face.

        The rough heading is the current one (shelf places face their shelf), or the line of
        sight when the box is far off to the side. When the depth shows one flat face turned
        towards the robot and nearly square to that heading, the approach snaps to its normal,
        unless the standoff pose in front of that face is inside a shelf or other furniture
        (a side face of a box on a shelf).
        """
        cfg = self.config
        sight = math.atan2(obs.face[1] - pose.y, obs.face[0] - pose.x)
        rough = current if abs(obs.bearing) <= cfg.max_approach_bearing else sight
        if obs.face_yaw is not None:
            square = _wrap(obs.face_yaw + math.pi)
            if (abs(_wrap(square - sight)) <= cfg.max_face_angle
                    and abs(_wrap(square - rough)) <= cfg.max_face_correction
                    and self._standoff_free(obs, square)):
                return square
        return rough

    def _standoff_free(self, obs: BoxObservation, heading: float) -> bool:
        """Return False if the standoff pose for this heading lies in static furniture."""
        reach = self.pad_front + self.config.standoff
        x = obs.face[0] - reach * math.cos(heading)
        y = obs.face[1] - reach * math.sin(heading)
        return not any(rect.contains(x, y, margin=self._half_width)
                       for rect in self._furniture)

    def _lateral(self, obs: BoxObservation, pose: Pose, heading: float) -> float:
        """Sideways offset (m, left positive) of the box face from the approach line."""
        return (-(obs.face[0] - pose.x) * math.sin(heading)
                + (obs.face[1] - pose.y) * math.cos(heading))

    def _line_up(self, obs: BoxObservation, heading: float) -> None:
        """Turn-drive-turn to the standoff pose in front of the face, facing along heading."""
        pose = self._last_pose
        reach = self.pad_front + self.config.standoff
        goal = np.array(obs.face[:2]) - reach * np.array([math.cos(heading), math.sin(heading)])
        delta = goal - np.array([pose.x, pose.y])
        distance = float(np.linalg.norm(delta))
        theta = pose.theta
        if distance > 0.02:
            bearing = _wrap(math.atan2(delta[1], delta[0]) - theta)
            # Back up rather than turn around when the standoff point is behind.
            if abs(bearing) > math.pi / 2:
                bearing = _wrap(bearing + math.pi)
                distance = -distance
            if abs(bearing) > self.config.heading_tolerance:
                self._turn(bearing, 'aligning')
                theta += bearing
            # Stopping early for the box itself is fine: the next look measures the gap.
            self._drive(distance, self.config.approach_speed, 'approaching the box',
                        tolerate_block=True)
        final = _wrap(heading - theta)
        if abs(final) > self.config.heading_tolerance:
            self._turn(final, 'aligning')

    def _standoff_hint(self, obs: BoxObservation, pose: Pose) -> tuple[float, float, float]:
        """Return a pose (x, y, theta) facing the box from within reach, for messages."""
        dx, dy = obs.face[0] - pose.x, obs.face[1] - pose.y
        norm = math.hypot(dx, dy) or 1.0
        back = self.pad_front + self.config.standoff + 0.3
        return (obs.face[0] - dx / norm * back, obs.face[1] - dy / norm * back,
                math.atan2(dy, dx))

    # -- port helpers -----------------------------------------------------------------------

    def _check_cancel(self) -> None:
        if self._should_cancel():
            raise _Abort(GraspStatus.CANCELED, f'Grasp of the {self._label} was canceled.')

    def _frame(self) -> RgbdFrame:
        self._check_cancel()
        self.motion.wait(self.config.settle_time)
        frame = self.motion.latest_rgbd()
        if frame is None:
            raise _Abort(GraspStatus.NOT_FOUND,
                         'No camera image is available, so nothing can be found. Wait a moment '
                         'and try again; if it persists the camera is down.')
        frame = RgbdFrame(*frame)
        self._last_pose = frame.pose
        return frame

    def _look_for(self, wanted: str, doing: str) -> tuple[BoxObservation, Pose]:
        frame = self._frame()
        found = [o for o in self.perception.observe(frame) if o.matches(wanted)]
        if not found:
            raise _Abort(GraspStatus.NOT_FOUND,
                         f'Lost sight of the {self._label} while {doing}. perceive() to check '
                         'where it is, then call grasp again.')
        found.sort(key=lambda o: (not o.color, o.distance))
        return found[0], frame.pose

    def _holding(self) -> bool:
        return bool(self.motion.holding())

    def _wait_for_seal(self) -> bool:
        waited = 0.0
        while waited < self.config.suction_timeout:
            self._check_cancel()
            if self._holding():
                return True
            self.motion.wait(0.1)
            waited += 0.1
        return self._holding()

    def _turn(self, angle: float, doing: str) -> None:
        self._check_cancel()
        self._result(self.motion.turn(angle), doing)

    def _drive(self, distance: float, speed: float, doing: str, contact: bool = False,
               tolerate_block: bool = False) -> None:
        self._check_cancel()
        speed = min(speed, self._max_speed)
        if contact:
            result = self.motion.drive_straight(distance, speed, contact=True)
        else:
            result = self.motion.drive_straight(distance, speed)
        status = self._result(result, doing)
        if status == 'blocked' and not (contact or tolerate_block):
            _, message = _status_of(result)
            raise _Abort(GraspStatus.UNREACHABLE,
                         f'Blocked while {doing} to the {self._label}: {message or "obstacle"}. '
                         'Clear the way or approach from another side, then grasp again.')

    def _result(self, result: MotionStatus | str, doing: str) -> str:
        status, message = _status_of(result)
        if status == 'canceled' or self._should_cancel():
            raise _Abort(GraspStatus.CANCELED, f'Grasp of the {self._label} was canceled.')
        if status in ('safety_stop', 'estop'):
            raise _Abort(GraspStatus.SAFETY_STOP,
                         f'The safety layer stopped the robot while {doing}: {message}. Do not '
                         'retry blindly: check the way is clear (and the e-stop released).')
        if status in ('refused', 'invalid'):
            raise _Abort(GraspStatus.UNREACHABLE,
                         f'The safety layer refused the motion while {doing}: {message}.')
        if status == 'timed_out' and doing != 'touching the box':
            raise _Abort(GraspStatus.UNREACHABLE,
                         f'Timed out while {doing} to the {self._label}: {message}. go_to its '
                         'shelf again and retry grasp.')
        return status
