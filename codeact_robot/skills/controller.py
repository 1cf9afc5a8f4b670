"""The skills controller: goals, motion supervision and the safety layer, without ROS.

``SkillsController`` is everything the skills node decides: it validates goals (numbers,
zone names, the geofence), plans them with the ``Navigator``, runs one motion at a time on a
control step that passes every velocity through the ``SafetyLayer``, holds the robot while
that step is late and stops it when the step is stuck (``LoopWatchdog``), latches the e-stop,
and maps how a motion ended into an outcome with a re-plan hint. It reads time from an injected
clock and talks to the outside through ``ControllerPorts`` (velocity out, safety events out,
the gripper, the camera, a log), so unit tests drive it with a fake clock and a kinematic
robot in milliseconds; the node (``nodes/skills_node.py``) only converts messages and serves
actions around it.

Thread model: the control step runs on one thread (the node's control timer), the watchdog on
another, and each goal blocks a caller thread in ``run_motion`` until the control step ends it.
State shared between them is guarded by ``lock``.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from codeact_robot.api.errors import InvalidArgumentError
from codeact_robot.nav.follower import FollowerConfig
from codeact_robot.nav.geometry import Pose2, to_parent
from codeact_robot.nav.planner import Plan
from codeact_robot.safety import layer as events
from codeact_robot.safety.layer import CycleInput, SafetyLayer
from codeact_robot.safety.limits import SafetyLimits, check_tightening
from codeact_robot.safety.monitor import EStopLatch, JumpSafeClock, clearance_ahead, staleness
from codeact_robot.safety.validation import check_names, check_number
from codeact_robot.safety.watchdog import LoopWatchdog, WatchInput
from codeact_robot.skills import motion
from codeact_robot.skills.delegated import DelegatedGoalTask, NavigatorPort
from codeact_robot.skills.grasp import GraspOutcome, GraspSkill, GraspStatus
from codeact_robot.skills.motion import DriveTask, FollowPathTask, MotionOutcome
from codeact_robot.skills.navigator import Navigator
from codeact_robot.skills.perceive import PerceptionSkill, RgbdFrame

# Clearance kept beyond a goal's stopping point during the final approach (m).
FINAL_MARGIN = 0.05
PLANNED = 'planned'  # plan_route's status for a route that exists and may be driven
# Cycles of zero velocity published after a motion ends (the base sees the stop for sure).
ZERO_CYCLES = 10
#: Wall seconds without simulated time passing that end a motion under ``use_sim_time``: a
#: simulator paused that long, or gone, leaves a motion nobody can supervise.
CLOCK_STOP_TIMEOUT = 5.0

ESTOP_LATCHED = 'the e-stop is latched; a person must reset it. Do not retry.'


@dataclass(frozen=True)
class MotionSettings:
    """The controller's tunables that are not safety limits (node parameters of the same name)."""

    control_period: float = 0.05
    default_speed: float = 0.35
    contact_speed: float = 0.1
    goal_tolerance: float = 0.05
    yaw_tolerance: float = 0.05
    block_lookahead: float = 1.2
    scan_overlay_lifetime: float = 3.0
    blocked_memory: float = 120.0
    move_timeout_margin: float = 20.0
    client_timeout: float = 2.0


class ControllerPorts(Protocol):
    """What the controller needs from the robot's middleware; the node implements it."""

    def publish_cmd(self, linear: float, angular: float) -> None:
        """Send a velocity command to the base."""

    def emit_event(self, kind: str, reason: str, source: str) -> None:
        """Report a safety event (and log it)."""

    def set_suction(self, on: bool) -> bool:
        """Switch the suction gripper; return whether the gripper confirmed it (bounded)."""

    def latest_rgbd(self) -> RgbdFrame | None:
        """Return a camera frame taken after the call, with the map pose at its capture."""

    def log(self, level: str, message: str) -> None:
        """Log a line ('info', 'warning' or 'error')."""


@dataclass
class ActiveMotion:
    """A running motion task and how it ended."""

    task: FollowPathTask | DriveTask
    should_cancel: Callable[[], bool]
    min_clearance: float | None = None
    max_speed: float | None = None
    done: threading.Event = field(default_factory=threading.Event)
    outcome: MotionOutcome | None = None
    distance_remaining: float = math.inf
    angle_remaining: float = 0.0
    phase: str = 'starting'


class SkillsController:
    """Validate, plan and supervise the robot's motions behind the safety layer (ROS-free)."""

    def __init__(self, nav: Navigator, limits: SafetyLimits, clock: Callable[[], float],
                 ports: ControllerPorts, settings: MotionSettings | None = None,
                 sim_time: bool = False, estop_state_file: str | None = None,
                 navigator: NavigatorPort | None = None) -> None:
        """Create the controller.

        ``clock`` returns the time the robot's data is stamped with, in seconds (the node
        clock: simulation time under ``use_sim_time``); ``sim_time`` says whether sensor
        stamps are on that clock (else data is timed at receipt). ``estop_state_file`` keeps
        a latched e-stop across restarts (``EStopLatch``); None keeps it in memory only.
        ``navigator``: move_to goals go to this external navigator (Nav2) instead of the
        robot's own planner and follower; its commands still pass the safety layer.
        """
        self.nav = nav
        self.navigator = navigator
        #: Called with each route about to be driven (the node publishes it for viewers).
        self.on_route: Callable[[list[tuple[float, float]]], None] | None = None
        self.world = nav.world
        self.ports = ports
        self.settings = settings or MotionSettings()
        self.now = clock
        self.sim_time = sim_time
        self.lock = threading.RLock()
        self._goal_lock = threading.Lock()
        self.limits = limits
        self.configured_limits = limits  # the ceiling run-time changes may not exceed
        self.estop = EStopLatch(estop_state_file)
        self.estop_pressed = False  # the button's last state (/estop)
        self.foreign_commanders: list[str] = []  # other /cmd_vel publishers (nodes)
        self.safety = SafetyLayer(limits, self.estop, self.settings.control_period)
        self.watchdog = LoopWatchdog(limits)
        # Safety times: the data clock made jump-safe (a clock set back keeps old data old).
        self.safe_clock = JumpSafeClock(clock)
        self.stop_epoch = 0
        self.skill = 'idle'
        self.active: ActiveMotion | None = None
        self.holds: dict[str, int] = {}
        self.held: str | None = None
        self.last_tick: float | None = self.safe_clock.now()
        self._clock_seen = (self.last_tick, time.monotonic())  # (data clock, wall) it last moved
        self._zero_cycles = 0
        # Sensor state: odom/scan stamps on the jump-safe clock.
        self.odom_stamp: float | None = None
        self.scan_stamp: float | None = None
        self.scan_base = np.zeros((0, 2))
        self.scan_map = np.zeros((0, 2))
        self.holding = False
        self.perception = PerceptionSkill(self.world)
        self.grasp_skill = GraspSkill(self.world, self.perception, _GraspPort(self), limits)
        self._grasp_cancel: Callable[[], bool] = lambda: False
        # Client heartbeats (wall time of the last, by goal token) and the running goal's token.
        self._beats: dict[str, float] = {}
        self._beat_lock = threading.Lock()
        self._client: str | None = None

    # -- settings and limits ------------------------------------------------------------------

    def set_limits(self, **changes: float) -> None:
        """Tighten safety limits at run time (already range-checked).

        Raises:
            ValueError: a limit would be looser than configured at start, or the set would be
                incoherent (stall_timeout below command_timeout).
        """
        for name, value in changes.items():
            check_tightening(name, value, getattr(self.configured_limits, name))
        with self.lock:
            self.limits = self.limits.replace(**changes)
            self.safety.limits = self.limits
            self.safety.limiter.limits = self.limits
            self.watchdog.limits = self.limits

    def set_settings(self, **changes: float) -> None:
        """Change motion settings at run time (the node's parameter callback)."""
        self.settings = replace(self.settings, **changes)

    # -- sensors ------------------------------------------------------------------------------

    def data_stamp(self, stamp: float) -> float:
        """Return a sensor message's time on the jump-safe clock.

        Under use_sim_time the header stamp: the simulator stamps with the same clock, so a
        slow simulator is no stale sensor. On a real robot the receipt time, as other
        machines' clocks may differ from this one's.
        """
        if self.sim_time and stamp > 0.0:
            return self.safe_clock.stamp(stamp)
        return self.safe_clock.now()

    def update_odom(self, stamp: float, pose: Pose2, twist: tuple[float, float]) -> bool:
        """Take an odometry message (header stamp, odom pose, twist); False if overtaken."""
        safe = self.data_stamp(stamp)
        if self.odom_stamp is not None and safe < self.odom_stamp:
            return False  # a newer one was already taken (the control loop's catch-up)
        self.nav.update_odom(stamp, pose, twist)
        self.odom_stamp = safe
        return True

    def update_scan(self, stamp: float, ranges: Any, angle_min: float, angle_increment: float,
                    range_min: float, range_max: float) -> None:
        """Take a lidar sweep (header stamp and LaserScan fields)."""
        pts = self.nav.scan_points(ranges, angle_min, angle_increment, range_min, range_max)
        scan_map = self.nav.add_scan(stamp, pts, self.now())
        safe = self.data_stamp(stamp)
        with self.lock:
            if self.scan_stamp is not None and safe < self.scan_stamp:
                return  # overtaken by a newer scan (taken by the control loop's catch-up)
            self.scan_base = pts
            self.scan_map = scan_map
            self.scan_stamp = safe

    def stale_inputs(self) -> list[str]:
        """Return the inputs ('odom', 'scan') older than the stale timeout now."""
        now = self.safe_clock.now()
        stamps = (('odom', self.odom_stamp), ('scan', self.scan_stamp))
        return [name for name, stamp in stamps
                if stamp is None or now - stamp > self.limits.stale_timeout]

    # -- stop, e-stop -------------------------------------------------------------------------

    def request_stop(self, reason: str, source: str, estop: bool = False) -> None:
        """Stop now: end the running motion and skill, command zero velocity, report it."""
        with self.lock:
            self.stop_epoch += 1
            active = self.active
            if active is not None:
                self._finish(active, MotionOutcome(
                    motion.ESTOP, f'{reason}; latched until a person resets it') if estop
                    else MotionOutcome(motion.SAFETY_STOP, f'stopped by a stop request: {reason}'))
            self.ports.publish_cmd(0.0, 0.0)
            self._zero_cycles = ZERO_CYCLES
        self.ports.emit_event(events.STOP_REQUEST, reason, source)

    def press_estop(self, source: str) -> None:
        """Latch the e-stop and stop; only ``reset_estop`` (a person) releases it."""
        if self.estop.trigger(f'e-stop ({source})'):
            self.ports.emit_event(events.ESTOP, 'e-stop pressed; latched until /estop/reset',
                                  source)
        self.request_stop('e-stop pressed', source, estop=True)

    def set_foreign_commanders(self, names: list[str]) -> None:
        """Report the other nodes publishing velocity commands to the base.

        While any does, the robot is stopped and no motion starts: a second commander (a
        teleop, another planner) would drive past every check of the safety layer.
        """
        names = sorted(names)
        with self.lock:
            if names == self.foreign_commanders:
                return
            self.foreign_commanders = names
        if names:
            reason = (f'another node publishes velocity commands ({", ".join(names)}); motions '
                      'are refused until it stops')
            self.ports.emit_event(events.FOREIGN_COMMANDER, reason, 'skills')
            self.request_stop(reason, 'skills')
        else:
            self.ports.log('info', 'no other velocity command publisher any more')

    def estop_input(self, pressed: bool, source: str) -> None:
        """Take the e-stop button's state: pressing latches; releasing alone restarts nothing."""
        self.estop_pressed = pressed
        if pressed:
            self.press_estop(source)

    def reset_estop(self, source: str) -> tuple[bool, str]:
        """Release a latched e-stop unless its button is still pressed: (done, message)."""
        if self.estop_pressed:
            message = 'the e-stop button is still pressed: release it, then reset'
            self.ports.log('warning', f'e-stop reset refused ({source}): {message}')
            return False, message
        was = self.estop.reset()
        if was:
            self.ports.emit_event(events.ESTOP, 'e-stop reset by a person', source)
            self.ports.log('info', f'e-stop reset by a person ({source})')
        return True, 'e-stop reset' if was else 'e-stop was not latched'

    # -- the control loop ---------------------------------------------------------------------

    def tick(self, before_step: Callable[[], None] | None = None) -> None:
        """Run one control cycle; a failing cycle stops the robot and reports why.

        ``before_step`` runs first while a motion is active (the node reads sensor messages
        still waiting in the middleware there).
        """
        try:
            if before_step is not None and self.active is not None:
                before_step()
            self.control_step()
        except Exception as e:  # noqa: BLE001 - a failing control step must still stop the robot
            self.ports.log('error', f'control step failed: {type(e).__name__}: {e}')
            with self.lock:
                active = self.active
                if active is not None:
                    self._finish(active, MotionOutcome(
                        motion.SAFETY_STOP, f'safety stop: internal controller error ({e})'))
                self.ports.publish_cmd(0.0, 0.0)
            self.ports.emit_event('internal_error', f'{type(e).__name__}: {e}', 'skills')
        self.last_tick = self.safe_clock.now()

    def control_step(self) -> None:
        """Step the running motion task and pass its command through the safety layer."""
        with self.lock:
            active = self.active
            if active is None:
                self.safety.step(self._cycle(None))
                if self._zero_cycles > 0:
                    self._zero_cycles -= 1
                    self.ports.publish_cmd(0.0, 0.0)
                return
            if active.should_cancel():
                self._finish(active, MotionOutcome(motion.CANCELED, 'canceled'))
                self.ports.publish_cmd(0.0, 0.0)
                return
            pose = self.nav.map_pose()
            if pose is None:
                command: tuple[float, float] | None = (0.0, 0.0)
            else:
                step = active.task.step(self.now(), pose, self.scan_map, self.nav.odom_twist)
                active.distance_remaining = step.distance_remaining
                active.angle_remaining = step.angle_remaining
                active.phase = step.phase
                if step.outcome is not None:
                    self._finish(active, step.outcome)
                    self.ports.publish_cmd(0.0, 0.0)
                    return
                command = step.command
                if active.max_speed is not None and command is not None:
                    command = (max(-active.max_speed, min(active.max_speed, command[0])),
                               command[1])
            min_clearance = active.min_clearance
            if isinstance(active.task, (FollowPathTask, DelegatedGoalTask)) and pose is not None:
                # Final approach to a goal in front of furniture (a dock, a station): what lies
                # beyond the stopping point, with FINAL_MARGIN to spare, is not in the way.
                # The follower is slower than 1 m/s per metre left there.
                min_clearance = min(self.limits.min_obstacle_distance,
                                    active.distance_remaining + FINAL_MARGIN)
            out = self.safety.step(self._cycle(command, min_clearance))
            for kind, reason in out.events:
                self.ports.emit_event(kind, reason, 'skills')
            if out.stop is not None:
                self._finish(active, self._stop_outcome(active, pose, out.stop))
            if out.hold is not None:
                self._note_hold(*out.hold)
            else:
                self.held = None
            if self.estop.active:
                # Pressed while this step ran (the latch is set before press_estop waits for
                # the lock): the command computed before it must not reach the base.
                self.ports.publish_cmd(0.0, 0.0)
                return
            self.ports.publish_cmd(out.linear, out.angular)

    def _cycle(self, command: tuple[float, float] | None,
               min_clearance: float | None = None) -> CycleInput:
        now = self.safe_clock.now()  # the safety layer's times are jump-safe
        return CycleInput(now=now, command=command, command_stamp=now,
                          odom_stamp=self.odom_stamp, scan_stamp=self.scan_stamp,
                          scan_points=self.scan_base, footprint=self.nav.body(),
                          min_clearance=min_clearance)

    def watch_once(self) -> None:
        """Hold the robot while the control loop is late; end the motion when it is stuck.

        Runs on a thread of its own: the control step's thread may be the one that is stuck.
        """
        # Data-clock time (sim time under use_sim_time): a paused simulator pauses the robot
        # too, which is no stall. Jump-safe: a clock set back does not hide a stall.
        active = self.active
        now = self.safe_clock.now()
        if self._clock_stopped(now, active) or self._client_lost(active):
            return
        out = self.watchdog.check(WatchInput(now, self.last_tick, active is not None))
        if out.hold is None and out.stop is None:
            return
        # Zero first, without the lock: a hung control step may hold it.
        self.ports.publish_cmd(0.0, 0.0)
        if out.stop is not None and active is not None:
            kind, reason = out.stop
            self._finish(active, MotionOutcome(motion.SAFETY_STOP, f'safety stop: {reason}'),
                         lock_timeout=0.2)
            self.ports.emit_event(kind, reason, 'skills')
        elif out.hold is not None:
            if self.lock.acquire(timeout=0.2):
                try:
                    self.safety.limiter.reset()  # the next cycle ramps up from rest
                finally:
                    self.lock.release()
            self._note_hold(*out.hold)

    def _clock_stopped(self, now: float, active: ActiveMotion | None) -> bool:
        """End a motion when simulated time has stood still for CLOCK_STOP_TIMEOUT wall s."""
        wall = time.monotonic()
        if now != self._clock_seen[0] or active is None or not self.sim_time:
            self._clock_seen = (now, wall)
            return False
        still = wall - self._clock_seen[1]
        if still <= CLOCK_STOP_TIMEOUT:
            return False
        reason = (f'the clock stopped: no simulated time passed for {still:.1f} s (is the '
                  'simulator running?)')
        self.ports.publish_cmd(0.0, 0.0)
        self._finish(active, MotionOutcome(motion.SAFETY_STOP, f'safety stop: {reason}'),
                     lock_timeout=0.2)
        self.ports.emit_event(events.CLOCK_STOPPED, reason, 'skills')
        return True

    def client_heartbeat(self, goal: str) -> None:
        """Note that the client waiting for the goal with token ``goal`` is alive."""
        now = time.monotonic()
        with self._beat_lock:  # not self.lock: a hung control step must not block heartbeats
            if len(self._beats) > 64:  # tokens of goals long over
                self._beats = {g: t for g, t in self._beats.items() if now - t < 60.0}
            self._beats[goal] = now

    def _client_gone(self) -> str | None:
        """Return why the running goal's client counts as gone, if it does.

        Only a client that sent heartbeats is supervised (a goal from ``ros2 action send_goal``
        has none); its silence for ``client_timeout`` wall seconds means it died mid-goal.
        """
        client = self._client
        beat = None if client is None else self._beats.get(client)
        silent = 0.0 if beat is None else time.monotonic() - beat
        if silent <= self.settings.client_timeout:
            return None
        return (f'the client waiting for this {self.skill} goal is gone (no heartbeat for '
                f'{silent:.1f} s)')

    def _client_lost(self, active: ActiveMotion | None) -> bool:
        """End the motion of a goal whose client died: nobody would see how it ends."""
        reason = None if active is None else self._client_gone()
        if active is None or reason is None:
            return False
        self.ports.publish_cmd(0.0, 0.0)
        self._finish(active, MotionOutcome(motion.SAFETY_STOP, f'safety stop: {reason}'),
                     lock_timeout=0.2)
        self.ports.emit_event(events.CLIENT_LOST, reason, 'skills')
        return True

    def _note_hold(self, kind: str, reason: str) -> None:
        """Count a hold (zero velocity, motion kept); log when holding starts."""
        self.holds[kind] = self.holds.get(kind, 0) + 1
        if self.held is None:
            self.ports.log('info', f'holding the robot ({kind}): {reason}; the next cycle '
                           'decides with fresh data')
        self.held = kind

    def _stop_outcome(self, active: ActiveMotion, pose: Pose2 | None,
                      stop: tuple[str, str]) -> MotionOutcome:
        kind, reason = stop
        if kind == events.OBSTACLE_STOP and pose is not None:
            task = active.task
            direction = 1.0
            if isinstance(task, DriveTask):
                direction = math.copysign(1.0, task.distance) if task.distance else 1.0
            dist = clearance_ahead(self.scan_base, self.nav.body(), direction)
            if isinstance(task, FollowPathTask):
                if task.near_end(pose):
                    return MotionOutcome(motion.ARRIVED, f'arrived at ({pose[0]:.2f}, '
                                         f'{pose[1]:.2f}) (stopped short before an obstacle)')
                return task.blocked(pose, None, dist)
            aisle = self.world.aisle_at(pose[0], pose[1])
            where = f'in {aisle} ' if aisle else ''
            return MotionOutcome(motion.BLOCKED, f'blocked {where}at ({pose[0]:.2f}, '
                                 f'{pose[1]:.2f}): {reason}', (pose[0], pose[1]), aisle, dist)
        if kind == events.ESTOP:
            return MotionOutcome(motion.ESTOP, reason)
        return MotionOutcome(motion.SAFETY_STOP, f'safety stop: {reason}')

    def _finish(self, active: ActiveMotion, outcome: MotionOutcome,
                lock_timeout: float = -1.0) -> None:
        locked = self.lock.acquire(timeout=lock_timeout)
        try:
            # Without the lock only when a hung control step holds it (the watchdog's case).
            if active.outcome is None:
                active.outcome = outcome
            if self.active is active:
                self.active = None
                self._zero_cycles = ZERO_CYCLES
        finally:
            if locked:
                self.lock.release()
        if isinstance(active.task, DelegatedGoalTask):
            active.task.abort()  # a stop of any kind ends the navigator's goal too
        active.done.set()

    # -- motions ------------------------------------------------------------------------------

    def run_motion(self, task: FollowPathTask | DriveTask | DelegatedGoalTask, budget: float,
                   should_cancel: Callable[[], bool] = lambda: False,
                   min_clearance: float | None = None, max_speed: float | None = None,
                   feedback: Callable[[ActiveMotion], None] | None = None,
                   epoch: int | None = None) -> MotionOutcome:
        """Run a motion task on the control loop and block until it ends (bounded).

        ``epoch`` is ``stop_epoch`` when the goal arrived: a stop requested since (while the
        goal was validated and planned) ends it here, before any command.
        """
        active = ActiveMotion(task, should_cancel, min_clearance, max_speed)
        refusal = self._refuse_start(epoch, should_cancel)
        if refusal is not None:
            return refusal
        reason = self._stale_odom_at_start()
        if reason is not None:
            self.ports.emit_event(events.STALE_ODOM, f'motion refused: odometry {reason}',
                                  'skills')
            return MotionOutcome(motion.SAFETY_STOP, f'safety stop: odometry {reason}')
        with self.lock:
            refusal = self._refuse_start(epoch, should_cancel)
            if refusal is not None:
                return refusal
            self.safety.limiter.reset()
            self.active = active
        # Wall-clock backstop in case the clock (e.g. /clock from a simulator) stops.
        wall_deadline = time.monotonic() + 3.0 * budget + 10.0
        while not active.done.wait(0.1):
            if feedback is not None:
                feedback(active)
            if time.monotonic() > wall_deadline:
                self._finish(active, MotionOutcome(motion.TIMED_OUT, 'timed out (no progress '
                                                   'of the clock or the robot)'))
                with self.lock:
                    self.ports.publish_cmd(0.0, 0.0)
        assert active.outcome is not None
        return active.outcome

    def _refuse_start(self, epoch: int | None = None,
                      should_cancel: Callable[[], bool] = lambda: False
                      ) -> MotionOutcome | None:
        with self.lock:
            if self.estop.active:
                return MotionOutcome(motion.ESTOP, ESTOP_LATCHED)
            if self.foreign_commanders:
                return MotionOutcome(motion.REFUSED, 'another node publishes velocity commands '
                                     f'({", ".join(self.foreign_commanders)}): stop it first')
            if epoch is not None and self.stop_epoch != epoch:
                return MotionOutcome(motion.SAFETY_STOP, 'stopped by a stop request that came '
                                     'while the motion was planned; nothing moved')
            if should_cancel():
                return MotionOutcome(motion.CANCELED, 'canceled before it started')
            if (gone := self._client_gone()) is not None:
                return MotionOutcome(motion.SAFETY_STOP, f'{gone}; nothing moved')
            if self.active is not None:
                return MotionOutcome(motion.INVALID, 'another motion is running; stop() first')
        return None

    def _stale_odom_at_start(self) -> str | None:
        """Return why odometry is too old to start a motion, after a bounded wait for fresh.

        Odometry just past ``stale_timeout`` is waited for (up to ``stale_grace``), as the
        control loop would hold the robot for it; it is refused past the stop limit.
        """
        lim = self.limits
        wall_end = time.monotonic() + lim.stale_grace + 1.0
        while True:
            now = self.safe_clock.now()
            if staleness(now, self.odom_stamp, lim.stale_timeout) is None:
                return None
            reason = staleness(now, self.odom_stamp, lim.stale_timeout + lim.stale_grace)
            if reason is not None or time.monotonic() > wall_end:
                return reason or 'no fresh message within the grace time'
            time.sleep(0.01)

    # -- goals --------------------------------------------------------------------------------

    def run_goal(self, skill: str, work: Callable[[], Any],
                 busy: Callable[[str], Any] = lambda m: MotionOutcome(motion.INVALID, m),
                 client: str | None = None) -> Any:
        """Run one goal's ``work`` unless another goal runs (then ``busy(message)``).

        ``client`` is the goal's token in client heartbeats (``client_heartbeat``): motions
        of the goal end when a client that sent them falls silent.
        """
        if not self._goal_lock.acquire(blocking=False):
            message = f'busy with {self.skill}; stop() first'
            self.ports.emit_event('rejected_goal', f'{skill} goal refused: {message}', 'skills')
            return busy(message)
        try:
            self.skill = skill
            self._client = client
            return work()
        finally:
            self.skill = 'idle'
            self._client = None
            self._goal_lock.release()

    def _reject(self, kind: str, reason: str) -> MotionOutcome:
        self.ports.emit_event(kind, reason, 'skills')
        return MotionOutcome(motion.INVALID, reason)

    def plan(self, goal: tuple[float, float], avoid: list[str]) -> tuple[Plan, list[str]]:
        """Plan from the current pose; return (plan, aisles seen or remembered as blocked)."""
        return self.nav.plan(goal, avoid, self.now(), self.settings.scan_overlay_lifetime)

    def plan_route(self, x: float, y: float, avoid: list[str]
                   ) -> tuple[str, str, Plan | None, list[str]]:
        """Validate and plan a route without driving it: (status, message, plan, blocked).

        The status is ``PLANNED``, ``motion.INVALID``, ``motion.NO_PATH`` or
        ``motion.REFUSED`` (the route would leave the geofence); the plan is None unless
        planned.
        """
        try:
            x = check_number('x', x, -1e4, 1e4)
            y = check_number('y', y, -1e4, 1e4)
            avoid = check_names('avoid', list(avoid), self.nav.known_zones())
        except InvalidArgumentError as e:
            self.ports.emit_event('rejected_argument', str(e), 'skills')
            return motion.INVALID, str(e), None, []
        plan, blocked = self.plan((x, y), avoid)
        if not plan.ok:
            return motion.NO_PATH, plan.message, None, blocked
        refusal = self.nav.geofence.check_path(plan.waypoints)
        if refusal is not None:
            return motion.REFUSED, refusal, None, blocked
        return PLANNED, plan.message, plan, blocked

    def move_to(self, x: float, y: float, theta: float | None, speed: float,
                avoid: list[str], should_cancel: Callable[[], bool] = lambda: False,
                feedback: Callable[[ActiveMotion], None] | None = None) -> MotionOutcome:
        """Validate, plan and drive to (x, y[, theta]) around blocked aisles and zones.

        ``speed`` 0 means the default speed. A blocked route ends BLOCKED with a hint how to
        re-plan, and the blocked aisle is remembered for ``blocked_memory`` seconds.
        """
        lim, cfg = self.limits, self.settings
        epoch = self.stop_epoch
        try:
            x = check_number('x', x, -1e4, 1e4)
            y = check_number('y', y, -1e4, 1e4)
            theta = check_number('theta', theta, -10.0, 10.0) if theta is not None else None
            speed = check_number('speed', speed, 0.0, lim.max_linear_speed,
                                 f'; the limit is {lim.max_linear_speed:g} m/s')
            avoid = check_names('avoid', list(avoid), self.nav.known_zones())
        except InvalidArgumentError as e:
            return self._reject('rejected_argument', str(e))
        refusal = self.nav.geofence.check_point((x, y))
        if refusal is not None:
            self.ports.emit_event('geofence', f'goal refused: {refusal}', 'skills')
            return MotionOutcome(motion.REFUSED, f'goal {refusal}')
        if self.navigator is not None:
            return self._move_to_delegated(x, y, theta, speed, should_cancel, feedback, epoch)
        plan, _ = self.plan((x, y), avoid)
        if not plan.ok:
            return MotionOutcome(motion.NO_PATH, plan.message)
        refusal = self.nav.geofence.check_path(plan.waypoints)
        if refusal is not None:
            self.ports.emit_event('geofence', f'route refused: {refusal}', 'skills')
            return MotionOutcome(motion.REFUSED, refusal)
        if self.on_route is not None:
            self.on_route(plan.waypoints)
        speed = speed or min(cfg.default_speed, lim.max_linear_speed)
        budget = plan.length / speed + cfg.move_timeout_margin
        follower = FollowerConfig(goal_tolerance=cfg.goal_tolerance,
                                  yaw_tolerance=cfg.yaw_tolerance)
        task = FollowPathTask(plan.waypoints, speed, lim.max_angular_speed, theta,
                              self.now() + budget, self.nav.body(), self.world.aisle_at,
                              cfg.block_lookahead, config=follower)
        outcome = self.run_motion(task, budget, should_cancel, feedback=feedback, epoch=epoch)
        if outcome.status == motion.BLOCKED:
            outcome = self._explain_blocked(outcome, (x, y), avoid)
        return outcome

    def _move_to_delegated(self, x: float, y: float, theta: float | None, speed: float,
                           should_cancel: Callable[[], bool],
                           feedback: Callable[[ActiveMotion], None] | None,
                           epoch: int) -> MotionOutcome:
        """Drive to a validated goal through the external navigator (``navigation: nav2``)."""
        assert self.navigator is not None
        if not self.navigator.ready(2.0):
            return MotionOutcome(motion.REFUSED, 'no navigator answers (navigation: nav2 needs '
                                 'a NavigateToPose action server); nothing moved')
        cfg, lim = self.settings, self.limits
        speed = speed or min(cfg.default_speed, lim.max_linear_speed)
        pose = self.nav.map_pose()
        distance = math.dist(pose[:2], (x, y)) if pose is not None else 0.0
        # The navigator's route is unknown here: allow twice the straight line.
        budget = 2.0 * distance / speed + cfg.move_timeout_margin
        task = DelegatedGoalTask(self.navigator, (x, y, theta), self.now() + budget,
                                 lim.command_timeout, cfg.goal_tolerance, cfg.yaw_tolerance,
                                 self.nav.geofence.check_point)
        return self.run_motion(task, budget, should_cancel, max_speed=speed, feedback=feedback,
                               epoch=epoch)

    def _explain_blocked(self, outcome: MotionOutcome, goal: tuple[float, float],
                         avoid: list[str]) -> MotionOutcome:
        aisle = outcome.blocked_aisle
        if not aisle:
            return MotionOutcome(outcome.status, outcome.message + '; plan_route or move_to again '
                                 'to go around it', outcome.blocked_at, None,
                                 outcome.obstacle_distance)
        now = self.now()
        self.nav.remember_blocked(aisle, now + self.settings.blocked_memory)
        hint = self.nav.detour_hint(aisle, goal, avoid, now, self.settings.scan_overlay_lifetime)
        return MotionOutcome(outcome.status, f'{outcome.message}; {hint}', outcome.blocked_at,
                             aisle, outcome.obstacle_distance)

    def drive(self, distance: float, angle: float, speed: float, contact: bool = False,
              should_cancel: Callable[[], bool] = lambda: False,
              feedback: Callable[[ActiveMotion], None] | None = None) -> MotionOutcome:
        """Validate and drive straight by ``distance`` (m), then turn by ``angle`` (rad).

        With ``contact`` the motion may end touching an object ahead, at contact speed.
        """
        lim, cfg = self.limits, self.settings
        epoch = self.stop_epoch
        try:
            distance = check_number('distance', distance, -lim.max_move_distance,
                                    lim.max_move_distance)
            angle = check_number('angle', angle, -lim.max_turn_angle, lim.max_turn_angle)
            speed = check_number('speed', speed, 0.0, lim.max_linear_speed,
                                 f'; the limit is {lim.max_linear_speed:g} m/s')
        except InvalidArgumentError as e:
            return self._reject('rejected_argument', str(e))
        pose = self.nav.map_pose()
        if pose is not None and distance:
            end = to_parent(pose, (distance, 0.0))
            refusal = self.nav.geofence.check_path([pose[:2], end])
            if refusal is not None:
                self.ports.emit_event('geofence', f'drive refused: {refusal}', 'skills')
                return MotionOutcome(motion.REFUSED, refusal)
        speed = speed or min(cfg.default_speed, lim.max_linear_speed)
        max_speed = min_clearance = None
        if contact:
            max_speed = cfg.contact_speed
            speed = min(speed, max_speed)
            min_clearance = -1.0  # touching the object ahead is the point of this motion
            budget = abs(distance) / max(speed, 0.01) + 2.0
        else:
            budget = abs(distance) / max(speed, 0.01) + abs(angle) / lim.max_angular_speed + 5.0
        task = DriveTask(distance, angle, speed, lim.max_angular_speed, self.now() + budget)
        return self.run_motion(task, budget, should_cancel, min_clearance, max_speed, feedback,
                               epoch)

    def grasp(self, target: str, should_cancel: Callable[[], bool] = lambda: False,
              feedback: Callable[[str, float], None] | None = None) -> GraspOutcome:
        """Find, approach and pick up ``target``; a stop request or the e-stop ends it."""
        if self.estop.active:
            return GraspOutcome(GraspStatus.ESTOP, ESTOP_LATCHED, self.holding)
        epoch = self.stop_epoch

        def cancelled() -> bool:
            return bool(should_cancel() or self.stop_epoch != epoch or self.estop.active)

        self._grasp_cancel = cancelled
        try:
            outcome = self.grasp_skill.run(str(target), cancelled, feedback)
        finally:
            self._grasp_cancel = lambda: False
        stopped = (GraspStatus.CANCELED, GraspStatus.SAFETY_STOP)
        if outcome.status in stopped and self.estop.active:
            return GraspOutcome(GraspStatus.ESTOP, 'the e-stop was pressed during the grasp',
                                outcome.holding)
        if outcome.status == GraspStatus.CANCELED and self.stop_epoch != epoch:
            return GraspOutcome(GraspStatus.SAFETY_STOP, 'the grasp was stopped by a stop '
                                'request', outcome.holding)
        if outcome.status == GraspStatus.INVALID:
            self.ports.emit_event('rejected_argument', f'grasp refused: {outcome.message}',
                                  'skills')
        return outcome

    # -- diagnostics --------------------------------------------------------------------------

    def status(self) -> tuple[str, str, dict[str, str]]:
        """Return (level 'ok' | 'warn' | 'error', message, key values) for diagnostics."""
        safe_now = self.safe_clock.now()
        odom = staleness(safe_now, self.odom_stamp, self.limits.stale_timeout)
        scan = staleness(safe_now, self.scan_stamp, self.limits.stale_timeout)
        level, message = 'ok', 'ok'
        if odom or scan:
            level, message = 'warn', f'odom: {odom or "ok"}, scan: {scan or "ok"}'
        if self.foreign_commanders:
            level, message = 'error', ('other velocity command publishers: '
                                       + ', '.join(self.foreign_commanders))
        if self.estop.active:
            level, message = 'error', f'e-stop latched: {self.estop.reason}'
        match = self.nav.localizer.last if self.nav.localizer is not None else None
        values = {'skill': self.skill,
                  'scan_match': 'off' if match is None else
                  f'ok={match.ok} rms={match.rms:.3f} inliers={match.inliers}',
                  'estop': str(self.estop.active),
                  'holding': str(self.holding), 'pose': str(self.nav.map_pose()),
                  'blocked_aisles': ', '.join(self.nav.remembered_blocked(self.now())),
                  'holds': ', '.join(f'{k}: {n}' for k, n in sorted(self.holds.items())),
                  'clock_backward_jumps': str(self.safe_clock.backward_jumps)}
        return level, message, values


class _GraspPort:
    """The grasp skill's motions, gripper and camera: all through the controller."""

    def __init__(self, controller: SkillsController) -> None:
        self._ctl = controller

    def latest_rgbd(self) -> RgbdFrame | None:
        return self._ctl.ports.latest_rgbd()

    def drive_straight(self, distance: float, speed: float, contact: bool = False) -> str:
        ctl = self._ctl
        return ctl.drive(float(distance), 0.0, float(speed), contact=contact,
                         should_cancel=ctl._grasp_cancel).status

    def turn(self, angle: float) -> str:
        ctl = self._ctl
        return ctl.drive(0.0, float(angle), 0.0, should_cancel=ctl._grasp_cancel).status

    def set_suction(self, on: bool) -> None:
        self._ctl.ports.set_suction(on)

    def holding(self) -> bool:
        return self._ctl.holding

    def stop(self) -> None:
        with self._ctl.lock:
            self._ctl.ports.publish_cmd(0.0, 0.0)

    def wait(self, seconds: float) -> None:
        # On the data clock (sim time) with a wall-clock backstop should that clock stop.
        ctl = self._ctl
        end = ctl.now() + seconds
        wall_end = time.monotonic() + 5.0 * seconds + 1.0
        while ctl.now() < end and time.monotonic() < wall_end:
            time.sleep(0.02)
