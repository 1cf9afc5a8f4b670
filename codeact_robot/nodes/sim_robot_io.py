"""One simulated robot's ROS 2 interface in sim_node: its topics, frames, command and gripper.

With one robot the names are the plain relative ones (``odom``, ``scan``, ``cmd_vel``, ...,
frames on ``/tf`` and ``/tf_static``). With several robots in one warehouse each robot's names
sit under its namespace (``robot1/odom``, ``robot1/cmd_vel``, ...) and its frames (``odom``,
``base_link``, ...) on ``robot1/tf`` and ``robot1/tf_static``: the Nav2 multi-robot convention,
where each robot's stack remaps ``/tf`` to ``tf`` inside its namespace.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from builtin_interfaces.msg import Time
from geometry_msgs.msg import Pose as PoseMsg
from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image, JointState, LaserScan
from std_srvs.srv import SetBool

from codeact_robot.nodes.tf_frames import PlanarTransform, publish_fixed_frames
from codeact_robot.sim import WarehouseSim
from codeact_robot.sim.camera import RenderError
from codeact_robot.world.frames import (
    BASE_FRAME,
    CAMERA_OPTICAL_FRAME,
    LASER_FRAME,
    MAP_FRAME,
    ODOM_FRAME,
)
from codeact_robot_interfaces.msg import GripperState, GroundTruth

CAMERA_FRAME = CAMERA_OPTICAL_FRAME
WHEEL_JOINTS = ('left_wheel_joint', 'right_wheel_joint')


def stamp(t: float) -> Time:
    """Return a builtin_interfaces/Time for ``t`` seconds."""
    sec = math.floor(t)
    return Time(sec=int(sec), nanosec=min(999_999_999, round((t - sec) * 1e9)))


def set_stamp(msg: Time, t: float) -> None:
    """Write ``t`` seconds into ``msg`` in place (hot paths)."""
    sec = math.floor(t)
    msg.sec, msg.nanosec = int(sec), min(999_999_999, round((t - sec) * 1e9))


class RobotIO:
    """Publish one robot's sensors and take its commands, for the node's physics thread."""

    def __init__(self, node: Any, sim: WarehouseSim, index: int, namespace: str,
                 params: dict[str, Any]) -> None:
        """Create the robot's publishers, subscription and service on ``node`` (a SimNode).

        Args:
            node: The sim node: its ``lock`` guards the simulator, ``params`` its settings.
            sim: The simulator.
            index: The robot's index in the simulator.
            namespace: '' for the only robot (plain names), else its namespace ('robot1').
            params: The node's parameters at start-up (camera, TF and cmd_vel settings).
        """
        self.node, self.sim, self.index = node, sim, index
        prefix = f'{namespace}/' if namespace else ''
        self.namespace = namespace
        n: Node = node
        # Deep enough that a briefly slow subscriber does not lose the 50-100 Hz streams.
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        images = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self._pub_odom = n.create_publisher(Odometry, prefix + 'odom', reliable)
        self._pub_scan = n.create_publisher(LaserScan, prefix + 'scan', reliable)
        self._pub_joints = n.create_publisher(JointState, prefix + 'joint_states', reliable)
        self._pub_image = n.create_publisher(Image, prefix + 'camera/image_raw', images)
        self._pub_depth = n.create_publisher(Image, prefix + 'camera/depth/image_raw', images)
        self._pub_info = n.create_publisher(CameraInfo, prefix + 'camera/camera_info', reliable)
        self._pub_gripper = n.create_publisher(GripperState, prefix + 'gripper/state', latched)
        self._pub_truth = n.create_publisher(GroundTruth, prefix + 'sim/ground_truth', reliable)
        if params['cmd_vel_stamped']:
            n.create_subscription(TwistStamped, prefix + 'cmd_vel',
                                  lambda msg: self._on_cmd_vel(msg.twist), 10)
        else:
            n.create_subscription(Twist, prefix + 'cmd_vel', self._on_cmd_vel, 10)
        n.create_service(SetBool, prefix + 'gripper/set', self._on_gripper_set)
        self._cmd_lock = threading.Lock()
        self._pending_cmd: tuple[float, float] | None = None
        self._gripper_sent: tuple[bool, bool] | None = None
        self._odom_msg = Odometry()
        self._odom_msg.header.frame_id = ODOM_FRAME
        self._odom_msg.child_frame_id = BASE_FRAME
        # Wheel odometry drifts slowly in x, y, yaw; z, roll and pitch are not observed.
        self._odom_msg.pose.covariance = _diag6(1e-4, 1e-4, 1e6, 1e6, 1e6, 1e-3)
        self._odom_msg.twist.covariance = _diag6(1e-4, 1e-4, 1e6, 1e6, 1e6, 1e-3)
        self._joints_msg = JointState()
        self._joints_msg.name = list(WHEEL_JOINTS)
        self._odom_tf: PlanarTransform | None = None
        if params['publish_tf']:
            tf, tf_static = (prefix + 'tf', prefix + 'tf_static') if namespace else (
                '/tf', '/tf_static')
            self._static_tf = publish_fixed_frames(n, sim.world.robot, topic=tf_static)
            self._odom_tf = PlanarTransform(n, ODOM_FRAME, BASE_FRAME, topic=tf)

    # --- inputs (executor threads) -------------------------------------------------------------
    def _on_cmd_vel(self, msg: Twist) -> None:
        if not (math.isfinite(msg.linear.x) and math.isfinite(msg.angular.z)):
            self.node.get_logger().warning('ignoring non-finite cmd_vel')
            return
        with self._cmd_lock:
            self._pending_cmd = (msg.linear.x, msg.angular.z)

    def take_cmd(self) -> tuple[float, float] | None:
        """Return the latest command since the last call, or None (physics thread)."""
        with self._cmd_lock:
            cmd, self._pending_cmd = self._pending_cmd, None
        return cmd

    def _on_gripper_set(self, request: SetBool.Request,
                        response: SetBool.Response) -> SetBool.Response:
        with self.node.lock:
            before = self.sim.gripper(self.index)
            state = self.sim.set_suction(request.data, self.index)
            t = self.sim.time
        if request.data:
            held = f'holding {state.held}' if state.holding else 'nothing sealed against the pad'
            response.message = f'suction on, {held}'
        else:
            dropped = f', released {before.held}' if before.holding else ''
            response.message = f'suction off{dropped}'
        response.success = True
        self.publish_gripper(state.suction_on, state.holding, t)
        return response

    # --- outputs (physics thread, simulator locked) --------------------------------------------
    def publish_odom(self, t: float) -> None:
        """Publish odometry, odom -> base_link and the wheel joint states."""
        # Messages are built once and updated in place: these are the 50 Hz hot path.
        odom = self.sim.odometry(self.index)
        msg, joints = self._odom_msg, self._joints_msg
        set_stamp(msg.header.stamp, t)
        msg.pose.pose.position.x, msg.pose.pose.position.y = odom.x, odom.y
        msg.pose.pose.orientation.z = math.sin(odom.theta / 2)
        msg.pose.pose.orientation.w = math.cos(odom.theta / 2)
        msg.twist.twist.linear.x, msg.twist.twist.angular.z = odom.v, odom.w
        self._pub_odom.publish(msg)
        if self._odom_tf is not None:
            self._odom_tf.send((odom.x, odom.y, odom.theta), msg.header.stamp)
        (pos_l, pos_r), (vel_l, vel_r) = self.sim.wheel_state(self.index)
        set_stamp(joints.header.stamp, t)
        joints.position = [pos_l, pos_r]
        joints.velocity = [vel_l, vel_r]
        self._pub_joints.publish(joints)

    def publish_scan(self, scan_rate: float) -> None:
        """Cast the lidar and publish the scan."""
        scan = self.sim.lidar_scan(self.index)
        msg = LaserScan()
        msg.header.stamp = stamp(scan.stamp)
        msg.header.frame_id = LASER_FRAME
        msg.angle_min, msg.angle_max = scan.angle_min, scan.angle_max
        msg.angle_increment = scan.angle_increment
        msg.scan_time = 1.0 / scan_rate
        msg.time_increment = 0.0
        msg.range_min, msg.range_max = scan.range_min, scan.range_max
        msg.ranges = scan.ranges.tolist()
        self._pub_scan.publish(msg)

    def publish_camera(self, t: float, lag: float | None = None) -> None:
        """Render and publish the camera, only for subscribers and only if the load allows."""
        node = self.node
        width, height = node.params['camera_width'], node.params['camera_height']
        header_stamp = stamp(t)
        wants_rgb = self._pub_image.get_subscription_count() > 0
        wants_depth = self._pub_depth.get_subscription_count() > 0
        if not (wants_rgb or wants_depth) or node.render_failed:
            self._pub_info.publish(self._camera_info(width, height, header_stamp))
            return
        throttle = node.camera_throttle
        began = time.monotonic()
        if not throttle.should_render(began, lag):
            node.report_camera(began)
            return  # degraded: this frame is skipped so the safety streams keep their rate
        self._pub_info.publish(self._camera_info(width, height, header_stamp))
        try:
            rgb, depth = self.sim.render_rgbd(width, height, robot=self.index)
            throttle.done(began, time.monotonic())
        except RenderError as e:
            node.render_failed = True
            node.get_logger().error(f'camera disabled: {e}')
            return
        if wants_rgb:
            self._pub_image.publish(_image(rgb.tobytes(), width, height, 'rgb8', 3 * width,
                                           header_stamp))
        if wants_depth:
            self._pub_depth.publish(_image(depth.tobytes(), width, height, '32FC1', 4 * width,
                                           header_stamp))

    def _camera_info(self, width: int, height: int, header_stamp: Time) -> CameraInfo:
        fx, fy, cx, cy = self.sim.camera_intrinsics(width, height)
        info = CameraInfo()
        info.header.stamp = header_stamp
        info.header.frame_id = CAMERA_FRAME
        info.width, info.height = width, height
        info.distortion_model = 'plumb_bob'
        info.d = [0.0] * 5
        info.k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
        info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        info.p = [fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
        return info

    def publish_truth(self) -> None:
        """Publish the simulator's ground truth with this robot's pose and held box."""
        truth = self.sim.ground_truth(self.index)
        msg = GroundTruth()
        msg.header.stamp = stamp(truth.stamp)
        msg.header.frame_id = MAP_FRAME
        msg.robot.x, msg.robot.y, msg.robot.theta = truth.robot.x, truth.robot.y, truth.robot.theta
        names, poses = [], []
        for name, (pos, quat) in truth.objects.items():
            names.append(name)
            poses.append(_pose(pos, quat))
        for name, obstacle in truth.obstacles.items():
            # Obstacles are listed as '<kind>:<name>' so tests can tell them from boxes.
            names.append(f'{obstacle.kind}:{name}')
            yaw = obstacle.yaw
            poses.append(_pose((obstacle.x, obstacle.y, 0.0),
                               (math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2))))
        msg.names, msg.poses, msg.held = names, poses, truth.held
        self._pub_truth.publish(msg)

    def publish_gripper(self, suction_on: bool, holding: bool, t: float) -> None:
        """Publish the gripper state (latched)."""
        self._gripper_sent = (suction_on, holding)
        msg = GripperState()
        msg.header.stamp = stamp(t)
        msg.header.frame_id = BASE_FRAME
        msg.suction_on, msg.holding = suction_on, holding
        self._pub_gripper.publish(msg)

    def gripper_changed(self) -> bool:
        """Return whether the gripper changed since it was last published."""
        g = self.sim.gripper(self.index)
        return (g.suction_on, g.holding) != self._gripper_sent


def _diag6(*values: float) -> list[float]:
    cov = [0.0] * 36
    for i, v in enumerate(values):
        cov[i * 7] = v
    return cov


def _pose(pos: tuple[float, float, float], quat: tuple[float, float, float, float]) -> PoseMsg:
    msg = PoseMsg()
    msg.position.x, msg.position.y, msg.position.z = pos
    msg.orientation.w, msg.orientation.x, msg.orientation.y, msg.orientation.z = quat
    return msg


def _image(data: bytes, width: int, height: int, encoding: str, step: int,
           header_stamp: Time) -> Image:
    msg = Image()
    msg.header.stamp = header_stamp
    msg.header.frame_id = CAMERA_FRAME
    msg.width, msg.height, msg.encoding, msg.step = width, height, encoding, step
    msg.is_bigendian = 0
    msg.data = data
    return msg
