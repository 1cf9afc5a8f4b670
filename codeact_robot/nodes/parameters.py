"""Parameter descriptors shared by the nodes: description, range and read-only flag in one place.

`ros2 param describe` shows what is built here, and rclpy rejects an out-of-range set before
any node callback runs, so every node declares its numeric bounds through this one helper.
"""

from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor


def describe(text: str, default: Any = None, bounds: tuple[float, float] | None = None,
             *, read_only: bool = False) -> ParameterDescriptor:
    """Return the descriptor of a parameter.

    Args:
        text: What the parameter means, with its unit.
        default: The default value; its type decides whether ``bounds`` become a floating
            point or an integer range (booleans and other types get no range).
        bounds: Inclusive (low, high) limits, or None for no range.
        read_only: True when the parameter is only read at start-up.
    """
    desc = ParameterDescriptor(description=text, read_only=read_only)
    if bounds is None or isinstance(default, bool):
        return desc
    if isinstance(default, float):
        desc.floating_point_range = [FloatingPointRange(
            from_value=float(bounds[0]), to_value=float(bounds[1]), step=0.0)]
    elif isinstance(default, int):
        desc.integer_range = [IntegerRange(
            from_value=int(bounds[0]), to_value=int(bounds[1]), step=1)]
    return desc
