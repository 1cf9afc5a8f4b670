"""Exceptions the robot API raises into the model's code.

Each message says what happened and what to try next: the model reads it as its observation. The
sandbox re-creates these classes by name, so the model's code can catch them (``except
SafetyStopError:``).
"""

from __future__ import annotations


class RobotApiError(Exception):
    """Base class of every error the robot API raises into the model's code."""


class InvalidArgumentError(RobotApiError, ValueError):
    """An argument was NaN, infinite, out of range or of the wrong type; nothing was sent."""


class UnknownPlaceError(RobotApiError, KeyError):
    """A place name is not in the world; the message lists the known names."""

    def __str__(self) -> str:
        # KeyError's str() adds quotes around the message; the model should read plain text.
        return str(self.args[0]) if self.args else ''


class SafetyStopError(RobotApiError):
    """The safety layer stopped or refused the motion (limit, geofence, keep-out, e-stop)."""


class EStopActiveError(SafetyStopError):
    """The emergency stop is latched; only a person can reset it. Do not retry."""


class NotFoundError(RobotApiError):
    """The requested object is not visible from here; move closer or look elsewhere."""


class GraspError(RobotApiError):
    """The gripper could not pick up the target (unreachable, not aligned, no seal)."""


class NavigationError(RobotApiError):
    """A task skill could not reach a place it needed (blocked with no way round, no path)."""


class RobotNotReadyError(RobotApiError):
    """The robot's skills or sensors are not available (no odom, no scan, server down)."""


API_ERRORS: tuple[type[RobotApiError], ...] = (
    RobotApiError, InvalidArgumentError, UnknownPlaceError, SafetyStopError, EStopActiveError,
    NotFoundError, GraspError, NavigationError, RobotNotReadyError,
)


def error_name(exc: BaseException) -> str:
    """Return the name of the nearest contract error class of ``exc``, as the model is told it.

    A subclass outside the contract maps to its contract base; anything else to RobotApiError.
    """
    for cls in type(exc).__mro__:
        if cls in API_ERRORS:
            return cls.__name__
    return 'RobotApiError'
