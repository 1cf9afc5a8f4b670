"""The velocity command to the base: Twist, or TwistStamped for ros2_control robots.

ros2_control's diff_drive_controller takes TwistStamped by default since Jazzy; bases driven by
Gazebo's diff-drive plugin, Nav2's velocity smoother or this project's simulator take Twist.
"""

from __future__ import annotations

from geometry_msgs.msg import Twist, TwistStamped
from rclpy.node import Node

from codeact_robot.world.frames import BASE_FRAME


class VelocityCommand:
    """Publish (linear, angular) commands on ``topic``: Twist, or TwistStamped if ``stamped``."""

    def __init__(self, node: Node, topic: str, stamped: bool) -> None:
        self.stamped = bool(stamped)
        self._clock = node.get_clock()
        self._pub = node.create_publisher(TwistStamped if self.stamped else Twist, topic, 10)

    @property
    def topic_name(self) -> str:
        """The resolved topic name."""
        return self._pub.topic_name

    def send(self, linear: float, angular: float) -> None:
        """Publish one command (m/s, rad/s); stamped commands carry the node's clock time."""
        if self.stamped:
            msg = TwistStamped()
            msg.header.stamp = self._clock.now().to_msg()
            msg.header.frame_id = BASE_FRAME
            twist = msg.twist
        else:
            msg = twist = Twist()
        twist.linear.x = float(linear)
        twist.angular.z = float(angular)
        self._pub.publish(msg)
