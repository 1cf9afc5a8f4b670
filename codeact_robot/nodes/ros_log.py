"""Log through an rclpy logger: at a severity chosen at run time, and the graph a node joined."""

from __future__ import annotations

import os
from collections.abc import Mapping
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


def graph_line(domain_id: int, env: Mapping[str, str]) -> str:
    """Describe the DDS graph a node joined: nodes started apart must agree on both values."""
    discovery = env.get('ROS_AUTOMATIC_DISCOVERY_RANGE') or 'SUBNET (the default)'
    return f'ROS graph: domain {domain_id}, discovery range {discovery}'


def log_graph(node: Any) -> None:
    """Log the domain id and discovery range of ``node``'s context at start."""
    node.get_logger().info(graph_line(node.context.get_domain_id(), os.environ))
