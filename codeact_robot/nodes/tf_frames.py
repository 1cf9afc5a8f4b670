"""/tf and /tf_static as tf2_msgs/TFMessage: the robot's frames (``world/frames.py``) on ROS.

The QoS is tf2_ros's: /tf_static is reliable and transient-local (a late RViz or tf2 listener
still gets the fixed frames), /tf a reliable stream of depth 100. ``tf2_msgs`` comes from the
ROS installation, or in the PyPI environment from ``make setup`` (third_party/tf2_msgs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from builtin_interfaces.msg import Time
from geometry_msgs.msg import PoseStamped, TransformStamped
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from tf2_msgs.msg import TFMessage

from codeact_robot.world.frames import (
    MAP_FRAME,
    ODOM_FRAME,
    FixedFrame,
    Pose2D,
    fixed_frames,
    map_to_odom,
)

TF_TOPIC, TF_STATIC_TOPIC = '/tf', '/tf_static'
TF_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
TF_STATIC_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                           durability=DurabilityPolicy.TRANSIENT_LOCAL)


def fixed_transform(frame: FixedFrame, stamp: Time) -> TransformStamped:
    """Return the TransformStamped of a fixed frame."""
    msg = TransformStamped()
    msg.header.stamp = stamp
    msg.header.frame_id, msg.child_frame_id = frame.parent, frame.child
    m = frame.mount
    t = msg.transform.translation
    t.x, t.y, t.z = float(m.x), float(m.y), float(m.z)
    q = msg.transform.rotation
    q.w, q.x, q.y, q.z = m.quaternion()
    return msg


def set_planar(msg: TransformStamped, pose: Pose2D) -> None:
    """Write a planar pose (x, y, yaw) into ``msg``'s transform, in place (hot paths)."""
    t, q = msg.transform.translation, msg.transform.rotation
    t.x, t.y = float(pose[0]), float(pose[1])
    q.z, q.w = math.sin(pose[2] / 2), math.cos(pose[2] / 2)


class PlanarTransform:
    """A parent -> child transform in the plane, published on /tf each time it is sent.

    The message is built once and updated in place: odometry sends it at 50 Hz.
    """

    def __init__(self, node: Node, parent: str, child: str, topic: str = TF_TOPIC) -> None:
        self._pub = node.create_publisher(TFMessage, topic, TF_QOS)
        self._tf = TransformStamped()
        self._tf.header.frame_id, self._tf.child_frame_id = parent, child
        self._msg = TFMessage(transforms=[self._tf])

    def send(self, pose: Pose2D, stamp: Time) -> None:
        """Publish the child's pose in the parent frame, stamped ``stamp``."""
        self._tf.header.stamp = stamp
        set_planar(self._tf, pose)
        self._pub.publish(self._msg)


def publish_fixed_frames(node: Node, robot: object, stamp: Time | None = None,
                         topic: str = TF_STATIC_TOPIC) -> Publisher:
    """Publish the robot block's fixed frames once on /tf_static; keep the returned publisher.

    Transient-local: the publisher must stay alive for late subscribers to get the frames.
    """
    pub = node.create_publisher(TFMessage, topic, TF_STATIC_QOS)
    stamp = stamp if stamp is not None else Time()
    pub.publish(TFMessage(transforms=[fixed_transform(f, stamp) for f in fixed_frames(robot)]))
    return pub


class MapPose:
    """The localizer's output: the robot pose as PoseStamped in ``map``, and ``map -> odom``.

    ``publish_tf`` is false where another localizer (AMCL, a SLAM node) owns ``map -> odom``.
    """

    def __init__(self, node: Node, topic: str, publish_tf: bool) -> None:
        self._pub = node.create_publisher(PoseStamped, topic, 10)
        self._msg = PoseStamped()
        self._msg.header.frame_id = MAP_FRAME
        self._tf = PlanarTransform(node, MAP_FRAME, ODOM_FRAME) if publish_tf else None

    def send(self, map_pose: Pose2D, odom_pose: Pose2D | None, stamp: Time) -> None:
        """Publish the map pose of base_link (and map -> odom) for odometry stamped ``stamp``."""
        msg = self._msg
        msg.header.stamp = stamp
        msg.pose.position.x, msg.pose.position.y = float(map_pose[0]), float(map_pose[1])
        msg.pose.orientation.z = math.sin(map_pose[2] / 2)
        msg.pose.orientation.w = math.cos(map_pose[2] / 2)
        self._pub.publish(msg)
        if self._tf is not None and odom_pose is not None:
            self._tf.send(map_to_odom(map_pose, odom_pose), stamp)


class MapRoute:
    """The planned route as ``nav_msgs/Path`` in ``map`` (the topic Nav2's planner uses)."""

    def __init__(self, node: Node, topic: str) -> None:
        from nav_msgs.msg import Path

        self._node = node
        self._pub = node.create_publisher(Path, topic, 10)
        self._make = Path

    def send(self, waypoints: Sequence[tuple[float, float]]) -> None:
        """Publish the route through ``waypoints`` (map-frame x, y)."""
        msg = self._make()
        msg.header.frame_id = MAP_FRAME
        msg.header.stamp = self._node.get_clock().now().to_msg()
        for x, y in waypoints:
            pose = PoseStamped()
            pose.header = msg.header
            pose.pose.position.x, pose.pose.position.y = float(x), float(y)
            pose.pose.orientation.w = 1.0
            msg.poses.append(pose)
        self._pub.publish(msg)
