"""The agent's turns on ``agent/log`` (rcl_interfaces/Log): code, output and verdict.

The Foxglove app's Log panel (and ``ros2 topic echo``) shows them beside the robot's topics,
and the view node records them with the episode, so a recording tells what the model wrote
and what the robot did at the same moment.
"""

from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import Log
from rclpy.node import Node
from rclpy.qos import QoSProfile

TOPIC = 'agent/log'
FINISHED = 'episode finished'  # the title of an episode's last line (a recorder waits for it)


def log_text(event: Any) -> tuple[int, str] | None:
    """Return (level, text) of an agent event (agent.episode.AgentEvent), None to skip it."""
    phase, turn = getattr(event, 'phase', ''), getattr(event, 'turn', 0)
    if phase == 'generating':
        return Log.INFO, f'turn {turn}: the model is writing code'
    if phase == 'executing' and getattr(event, 'code', ''):
        return Log.INFO, f'turn {turn}: code\n{event.code.rstrip()}'
    if phase in ('observed', 'finished'):
        text = (getattr(event, 'observation', '') or '').rstrip()
        title = 'result' if phase == 'observed' else FINISHED
        level = Log.WARN if 'Error' in text or 'fail' in text.lower() else Log.INFO
        return level, f'turn {turn}: {title}\n{text}'.rstrip()
    return None


class AgentLogPublisher:
    """Publish each agent event on ``agent/log``; call it with the event."""

    def __init__(self, node: Node) -> None:
        self._node = node
        self._pub = node.create_publisher(Log, TOPIC, QoSProfile(depth=50))

    def __call__(self, event: Any) -> None:
        """Publish one event (events that say nothing new are skipped)."""
        found = log_text(event)
        if found is None:
            return
        level, text = found
        msg = Log(level=level, name='agent', msg=text, function='turn',
                  line=int(getattr(event, 'turn', 0) or 0))
        msg.stamp = self._node.get_clock().now().to_msg()
        self._pub.publish(msg)
