"""The control loop's watchdog: tell a late loop (hold the robot) from a stuck one (stop).

ROS-free. The skills node runs it on a thread of its own, so that it keeps its rate when the
executor's thread pool is busy with blocking callbacks (motions, perception, the gripper).
Times are seconds on the jump-safe clock of the data (``monitor.JumpSafeClock``).
"""

from __future__ import annotations

from dataclasses import dataclass

from codeact_robot.safety.layer import COMMAND_TIMEOUT
from codeact_robot.safety.limits import SafetyLimits


@dataclass(frozen=True)
class WatchInput:
    """What the watchdog sees at one check."""

    now: float
    last_cycle: float | None
    moving: bool


@dataclass(frozen=True)
class WatchOutput:
    """``hold``: publish zero velocity, keep the motion. ``stop``: end it. (kind, reason)."""

    hold: tuple[str, str] | None = None
    stop: tuple[str, str] | None = None


class LoopWatchdog:
    """Hold the robot when the control loop is late; stop the motion when it is stuck.

    A loop that has not completed a cycle for ``command_timeout`` is late: the robot is held at
    zero velocity (the base would stop on its own command timeout a moment later anyway), and
    the next cycle drives again from rest with fresh data. Only a loop silent for
    ``stall_timeout`` is stuck and ends the motion.
    """

    def __init__(self, limits: SafetyLimits) -> None:
        self.limits = limits

    def check(self, inp: WatchInput) -> WatchOutput:
        """Return what to do now."""
        if not inp.moving or inp.last_cycle is None:
            return WatchOutput()
        late = inp.now - inp.last_cycle
        lim = self.limits
        if late > lim.stall_timeout:
            return WatchOutput(stop=(COMMAND_TIMEOUT, f'control loop stuck: no cycle for '
                                                      f'{late:.2f} s (limit '
                                                      f'{lim.stall_timeout:g} s)'))
        if late > lim.command_timeout:
            return WatchOutput(hold=(COMMAND_TIMEOUT, f'control loop late: no cycle for '
                                                      f'{late:.2f} s'))
        return WatchOutput()
