"""Safety limits with validated ranges, and the velocity limiter applied to every command."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class LimitSpec:
    """Allowed range and meaning of one limit (also the ROS parameter's descriptor)."""

    low: float
    high: float
    description: str
    #: Which way the limit gets safer; at run time it may only move that way (tighten).
    safer: str = 'lower'


LIMIT_SPECS: dict[str, LimitSpec] = {
    'max_linear_speed': LimitSpec(0.01, 2.0, 'Largest forward/backward speed commanded (m/s).'),
    'max_angular_speed': LimitSpec(0.01, 3.0, 'Largest turn rate commanded (rad/s).'),
    'max_linear_accel': LimitSpec(0.05, 5.0, 'Largest change of commanded speed (m/s^2).'),
    'max_angular_accel': LimitSpec(0.05, 10.0, 'Largest change of commanded turn rate (rad/s^2).'),
    'min_obstacle_distance': LimitSpec(
        0.05, 2.0, 'Stop when a lidar return in the direction of travel is closer than this to '
                   'the robot body (m).', safer='higher'),
    'stale_timeout': LimitSpec(
        0.05, 5.0, 'Hold the robot at zero velocity when odom or scan is older than this, on '
                   'the clock the data is stamped with (s).'),
    'stale_grace': LimitSpec(
        0.0, 2.0, 'End the motion with a safety stop when odom or scan stays stale this much '
                  'longer than stale_timeout (s); until then a late input only holds the robot.'),
    'command_timeout': LimitSpec(
        0.05, 5.0, 'Hold the robot at zero velocity when the control loop has not refreshed '
                   'its command for this long (s).'),
    'stall_timeout': LimitSpec(
        0.1, 30.0, 'End the motion with a safety stop when the control loop has not run for '
                   'this long (s): it is stuck, not just late. At least command_timeout.'),
    'max_move_distance': LimitSpec(0.1, 10.0, 'Largest distance of one move() (m).'),
    'max_turn_angle': LimitSpec(0.1, 4.0 * math.pi, 'Largest angle of one turn() (rad).'),
    'max_wait': LimitSpec(0.0, 600.0, 'Longest wait() (s).'),
    'overshoot_margin': LimitSpec(
        0.0, 0.3, 'Fraction below max_linear_speed where commands are capped: wheel controllers '
                  'overshoot a speed step by a few percent, and the limit holds for true speed.',
        safer='higher'),
}


@dataclass(frozen=True)
class SafetyLimits:
    """The limits the skills node enforces (defaults of the issue; config/*.yaml overrides)."""

    max_linear_speed: float = 0.5
    max_angular_speed: float = 1.0
    max_linear_accel: float = 1.0
    max_angular_accel: float = 2.0
    min_obstacle_distance: float = 0.3
    stale_timeout: float = 0.5
    stale_grace: float = 0.3
    command_timeout: float = 0.5
    stall_timeout: float = 2.0
    max_move_distance: float = 2.0
    max_turn_angle: float = 2.0 * math.pi
    max_wait: float = 30.0
    overshoot_margin: float = 0.05

    def __post_init__(self) -> None:
        for f in fields(self):
            check_limit(f.name, getattr(self, f.name))
        if self.stall_timeout < self.command_timeout:
            raise ValueError(f'stall_timeout={self.stall_timeout} must be at least '
                             f'command_timeout={self.command_timeout}')

    def replace(self, **changes: float) -> SafetyLimits:
        """Return a copy with some limits changed (validated)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        unknown = set(changes) - set(values)
        if unknown:
            raise ValueError(f'unknown safety limits: {sorted(unknown)}')
        values.update(changes)
        return SafetyLimits(**values)


def check_tightening(name: str, value: float, configured: float) -> None:
    """Raise ValueError unless ``value`` is at least as safe as the ``configured`` one.

    The configured limits (the parameter file the node started with) are a ceiling: another
    participant of the ROS graph may tighten them at run time, never loosen them.
    """
    safer = LIMIT_SPECS[name].safer
    if (value > configured) if safer == 'lower' else (value < configured):
        bound = 'above' if safer == 'lower' else 'below'
        raise ValueError(f'{name}={value:g} is {bound} the configured {configured:g}: at run '
                         'time safety limits may only be tightened (restart the skills node '
                         'with a new parameter file to loosen them)')


def check_limit(name: str, value: object) -> float:
    """Return ``value`` as float if it is a valid setting of limit ``name``; else ValueError."""
    spec = LIMIT_SPECS.get(name)
    if spec is None:
        raise ValueError(f'unknown safety limit {name!r}')
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f'{name} must be a number, got {type(value).__name__}')
    v = float(value)
    if not math.isfinite(v) or not spec.low <= v <= spec.high:
        raise ValueError(f'{name}={value} is outside [{spec.low}, {spec.high}]')
    return v


class VelocityLimiter:
    """Clamp speeds to the limits and rate-limit changes by the acceleration limits."""

    def __init__(self, limits: SafetyLimits) -> None:
        self.limits = limits
        self.linear = 0.0
        self.angular = 0.0

    def reset(self) -> None:
        """Forget the last command (after a stop the robot is at rest)."""
        self.linear = 0.0
        self.angular = 0.0

    def limit(self, linear: float, angular: float, dt: float) -> tuple[float, float, bool]:
        """Return (linear, angular, clamped) for a requested command after ``dt`` seconds."""
        lim = self.limits
        if not (math.isfinite(linear) and math.isfinite(angular)):
            self.reset()
            return 0.0, 0.0, True
        cap = lim.max_linear_speed * (1.0 - lim.overshoot_margin)
        v = max(-cap, min(cap, linear))
        w = max(-lim.max_angular_speed, min(lim.max_angular_speed, angular))
        clamped = abs(linear) > lim.max_linear_speed or (w != angular)
        dt = max(0.0, min(dt, 0.5))
        dv = lim.max_linear_accel * dt
        dw = lim.max_angular_accel * dt
        # Speed up gently in the last fifth below the cap: a base's wheel controllers overshoot
        # a sharp ramp, and the true speed must stay at the limit.
        headroom = (cap - abs(self.linear)) / (0.2 * cap)
        up = dv * max(0.25, min(1.0, headroom))
        if v >= self.linear:
            rising = self.linear >= 0.0
            self.linear = min(v, self.linear + (up if rising else dv))
        else:
            falling = self.linear <= 0.0
            self.linear = max(v, self.linear - (up if falling else dv))
        self.angular = max(self.angular - dw, min(self.angular + dw, w))
        return self.linear, self.angular, clamped
