"""Log through an rclpy logger at a severity chosen at run time."""

from __future__ import annotations

from typing import Any


def log_at(logger: Any, level: str, message: str) -> None:
    """Log ``message`` at ``level`` ('error', 'warning', else info) on an rclpy logger.

    One call site per severity: rclpy caches each logging line's severity and raises
    ValueError when the same line logs at another one (``getattr(logger, level)(...)`` does).
    """
    if level == 'error':
        logger.error(message)
    elif level == 'warning':
        logger.warning(message)
    else:
        logger.info(message)
