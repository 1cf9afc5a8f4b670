"""The per-cycle safety filter every velocity command passes before it is published.

Two answers besides "go": a *stop* ends the running motion (e-stop, obstacle, an input that
stayed stale past ``stale_timeout + stale_grace``); a *hold* publishes zero velocity for this
cycle but keeps the motion, because an input only just older than ``stale_timeout`` is as
likely a late loop of this process (starved of CPU) as a failed sensor: the next cycle decides
again with whatever data arrived meanwhile.

A cycle that itself comes late (more than ``LATE_CYCLES`` periods after the one before) was
starved together with the sensor callbacks of the same process: their messages are still
queued, so staleness seen then says nothing about the sensors. Until one period after such a
cycle a stale input holds the robot instead of stopping it; an input stale past the stop limit
plus one period stops it whatever the loop did, so a real dropout during a starved spell still
ends the motion within a bound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from codeact_robot.safety.limits import SafetyLimits, VelocityLimiter
from codeact_robot.safety.monitor import EStopLatch, Footprint, clearance_ahead, staleness

# Kinds of SafetyEvent (codeact_robot_interfaces/SafetyEvent.kind).
ESTOP = 'estop'
STOP_REQUEST = 'stop_request'
COMMAND_TIMEOUT = 'command_timeout'
STALE_ODOM = 'stale_odom'
STALE_SCAN = 'stale_scan'
OBSTACLE_STOP = 'obstacle_stop'
SPEED_LIMITED = 'speed_limited'
FOREIGN_COMMANDER = 'foreign_cmd_vel'  # another node publishes velocity commands
CLOCK_STOPPED = 'clock_stopped'  # simulated time stood still during a motion (simulator gone)
CLIENT_LOST = 'client_lost'  # the client waiting for a goal stopped its heartbeat (it died)
# Kinds that end a motion because an input or the loop failed (not the world): a false one is
# a stop when nothing is wrong, so the evaluation counts them apart.
STALL_KINDS = (COMMAND_TIMEOUT, STALE_ODOM, STALE_SCAN)
LATE_CYCLES = 4  # a gap of more than this many periods since the last cycle: a late cycle


@dataclass(frozen=True)
class CycleInput:
    """What the safety filter needs to know in one control cycle.

    Times are seconds on one clock that never goes back (``monitor.JumpSafeClock``): the clock
    the data is stamped with, i.e. simulation time under ``use_sim_time``.
    """

    now: float
    command: tuple[float, float] | None
    command_stamp: float | None
    odom_stamp: float | None
    scan_stamp: float | None
    scan_points: np.ndarray
    footprint: Footprint
    min_clearance: float | None = None


@dataclass(frozen=True)
class CycleOutput:
    """The velocity to publish, the stop the layer forced (kind, reason) and new events.

    ``hold`` (kind, reason): zero velocity this cycle, the motion goes on (not an event).
    """

    linear: float
    angular: float
    stop: tuple[str, str] | None = None
    events: list[tuple[str, str]] = field(default_factory=list)
    clearance: float = math.inf
    hold: tuple[str, str] | None = None


class SafetyLayer:
    """Apply e-stop, staleness, command timeout, obstacle distance and speed/accel limits.

    Events are edge-triggered: a condition is reported when it starts, not every cycle.
    """

    def __init__(self, limits: SafetyLimits, estop: EStopLatch | None = None,
                 period: float = 0.05) -> None:
        self.limits = limits
        self.period = period
        self.estop = estop or EStopLatch()
        self.limiter = VelocityLimiter(limits)
        self._last_now: float | None = None
        self._catching_up_until = -math.inf
        self._active: set[str] = set()

    def step(self, inp: CycleInput) -> CycleOutput:
        """Return the command to publish for this cycle."""
        dt = self.period if self._last_now is None else max(0.0, inp.now - self._last_now)
        if self._last_now is not None and dt > LATE_CYCLES * self.period:
            self._catching_up_until = inp.now + self.period
        self._last_now = inp.now
        if inp.command is None:
            self.limiter.reset()
            self._active.clear()
            return CycleOutput(0.0, 0.0)
        stop = self._stop_condition(inp)
        if stop is not None:
            self.limiter.reset()
            return CycleOutput(0.0, 0.0, stop, self._edges([stop]))
        hold = self._stale_condition(inp, hold=True)
        if hold is not None:
            self.limiter.reset()  # the base brakes: ramp up again from rest
            return CycleOutput(0.0, 0.0, hold=hold)
        v, w, clamped = self.limiter.limit(inp.command[0], inp.command[1], dt)
        conditions = []
        if clamped:
            conditions.append((SPEED_LIMITED, f'requested ({inp.command[0]:.2f} m/s, '
                                              f'{inp.command[1]:.2f} rad/s) exceeds the limits '
                                              f'({self.limits.max_linear_speed:g} m/s, '
                                              f'{self.limits.max_angular_speed:g} rad/s)'))
        clearance = clearance_ahead(inp.scan_points, inp.footprint, math.copysign(1.0, v)
                                    if v else 0.0)
        return CycleOutput(v, w, None, self._edges(conditions), clearance)

    def _stop_condition(self, inp: CycleInput) -> tuple[str, str] | None:
        lim = self.limits
        if self.estop.active:
            return ESTOP, f'e-stop latched ({self.estop.reason}); a person must reset it'
        if inp.command_stamp is None or inp.now - inp.command_stamp > lim.command_timeout:
            return COMMAND_TIMEOUT, f'no fresh command for {lim.command_timeout:g} s'
        stale = self._stale_condition(inp, hold=False)
        if stale is not None:
            if inp.now <= self._catching_up_until and self._stale_condition(
                    inp, hold=False, extra=self.period) is None:
                return None  # held below; the queued messages of the late spell come next
            return stale
        v = inp.command[0] if inp.command else 0.0
        if v != 0.0:
            limit = lim.min_obstacle_distance if inp.min_clearance is None else inp.min_clearance
            clearance = clearance_ahead(inp.scan_points, inp.footprint, math.copysign(1.0, v))
            if clearance < limit:
                side = 'ahead' if v > 0 else 'behind'
                return OBSTACLE_STOP, (f'obstacle {clearance:.2f} m {side} (minimum '
                                       f'{limit:.2f} m)')
        return None

    def _stale_condition(self, inp: CycleInput, hold: bool,
                         extra: float = 0.0) -> tuple[str, str] | None:
        """Return the stale input past the hold limit (hold) or the stop limit (+ extra s)."""
        lim = self.limits
        limit = lim.stale_timeout if hold else lim.stale_timeout + lim.stale_grace + extra
        for kind, what, stamp in ((STALE_ODOM, 'odometry', inp.odom_stamp),
                                  (STALE_SCAN, 'laser scan', inp.scan_stamp)):
            reason = staleness(inp.now, stamp, limit)
            if reason is not None:
                return kind, f'{what} is stale: {reason}'
        return None

    def _edges(self, conditions: list[tuple[str, str]]) -> list[tuple[str, str]]:
        kinds = {k for k, _ in conditions}
        new = [(k, r) for k, r in conditions if k not in self._active]
        self._active = kinds
        return new
