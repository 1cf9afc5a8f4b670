"""Collect the skills node's /safety/events beside a session.

Each transcript then ends with the safety events of its episode (a stop's cause in the robot's
own words).
"""

from __future__ import annotations

from typing import Any

from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy

from codeact_robot_interfaces.msg import SafetyEvent


class SafetyEventLog:
    """Collect /safety/events on a node of the robot stack's executor (thread-safe list)."""

    def __init__(self, stack: Any) -> None:
        """Add a subscriber node to ``stack.runner`` (a ``bringup.RobotStack``)."""
        self.events: list[dict[str, str]] = []
        node = stack.runner.add(Node('session_safety_events', context=stack.runner.context))
        node.create_subscription(SafetyEvent, 'safety/events', self._on_event,
                                 QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))

    def _on_event(self, msg: Any) -> None:
        # list.append is atomic under the GIL; readers copy a slice
        self.events.append({'kind': msg.kind, 'reason': msg.reason, 'source': msg.source})
