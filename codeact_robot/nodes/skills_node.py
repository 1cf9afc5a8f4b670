"""The skills node: motion and manipulation skills as ROS 2 actions, behind the safety layer.

It is the only /cmd_vel publisher. A control timer (``control_rate`` Hz) steps the running motion
task (route following or straight drive/turn), passes the request through the safety layer
(e-stop latch, stale odom/scan, obstacle distance, speed/acceleration limits) and publishes the
result. A watchdog thread of its own holds the robot at zero velocity when that loop is late
and ends the motion only when it is stuck (``safety/watchdog.py``). Staleness is judged on the
clock the data is stamped with (sim time under ``use_sim_time``), made jump-safe. Actions
/skills/move_to, /skills/drive, /skills/grasp; services /skills/perceive,
/skills/plan_route, /skills/release, /skills/stop, /estop/reset; topics /estop (in),
/skills/stop_request (in, std_msgs/String reason), /skills/pose (Pose2D, map frame),
/safety/events, /diagnostics, /say.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point as PointMsg
from geometry_msgs.msg import Pose2D, Twist
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import SetParametersResult
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.exceptions import InvalidHandle, ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image, LaserScan
from std_msgs.msg import Bool, String
from std_srvs.srv import SetBool, Trigger

from codeact_robot.api.errors import InvalidArgumentError
from codeact_robot.api.types import Pose
from codeact_robot.nav.geometry import (
    Pose2,
    to_parent,
    yaw_from_quaternion,
)
from codeact_robot.nav.planner import Plan
from codeact_robot.nodes.parameters import describe
from codeact_robot.nodes.runner import spin_until_shutdown
from codeact_robot.safety import layer as events
from codeact_robot.safety.layer import CycleInput, SafetyLayer
from codeact_robot.safety.limits import LIMIT_SPECS, SafetyLimits, check_limit
from codeact_robot.safety.monitor import EStopLatch, JumpSafeClock, staleness
from codeact_robot.safety.validation import check_names, check_number
from codeact_robot.safety.watchdog import LoopWatchdog, WatchInput
from codeact_robot.skills import motion
from codeact_robot.skills.motion import DriveTask, FollowPathTask, MotionOutcome
from codeact_robot.skills.navigator import Navigator
from codeact_robot.skills.perceive import RgbdPairer, StampedImage
from codeact_robot.world import World, load_world
from codeact_robot_interfaces.action import Drive, Grasp, MoveTo
from codeact_robot_interfaces.msg import Detection as DetectionMsg
from codeact_robot_interfaces.msg import GripperState, SafetyEvent
from codeact_robot_interfaces.srv import Perceive, PlanRoute

_MOVE_STATUS = {motion.ARRIVED: MoveTo.Result.ARRIVED, motion.BLOCKED: MoveTo.Result.BLOCKED,
                motion.TIMED_OUT: MoveTo.Result.TIMED_OUT,
                motion.SAFETY_STOP: MoveTo.Result.SAFETY_STOP,
                motion.CANCELED: MoveTo.Result.CANCELED, motion.INVALID: MoveTo.Result.INVALID,
                motion.NO_PATH: MoveTo.Result.NO_PATH}
_DRIVE_STATUS = {motion.ARRIVED: Drive.Result.DONE, motion.BLOCKED: Drive.Result.BLOCKED,
                 motion.TIMED_OUT: Drive.Result.TIMED_OUT,
                 motion.SAFETY_STOP: Drive.Result.SAFETY_STOP,
                 motion.CANCELED: Drive.Result.CANCELED, motion.INVALID: Drive.Result.INVALID,
                 motion.NO_PATH: Drive.Result.INVALID}

# Clearance kept beyond a goal's stopping point during the final approach (m).
FINAL_MARGIN = 0.05

# Message prefixes the API facade maps to exception types (see api/ros_robot_api.py).
REFUSED = 'refused: '
ESTOP_PREFIX = 'e-stop: '


@dataclass
class _Motion:
    """A running motion task and how it ended."""

    task: FollowPathTask | DriveTask
    should_cancel: Callable[[], bool]
    min_clearance: float | None = None
    max_speed: float | None = None
    done: threading.Event = field(default_factory=threading.Event)
    outcome: MotionOutcome | None = None
    distance_remaining: float = math.inf
    angle_remaining: float = 0.0
    phase: str = 'starting'


def _take_waiting(sub: Any) -> Any | None:
    """Take the message waiting at a subscription, or None; as the executor takes it.

    Safe beside the executor: whichever takes a message first gets it, the other gets None.
    """
    try:
        with sub.handle:
            taken = sub.handle.take_message(sub.msg_type, sub.raw)
    except InvalidHandle:
        return None  # the node is being destroyed
    return None if taken is None else taken[0]


def _stamp_seconds(stamp: Any) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


class SkillsNode(Node):
    """Serve MoveTo, Drive, Grasp, Perceive, PlanRoute; enforce the safety limits."""

    def __init__(self, world: World | None = None, **kwargs: object) -> None:
        super().__init__('skills_node', **kwargs)
        self._declare_parameters()
        self.world = world or load_world(self.get_parameter('world').value)
        self._lock = threading.RLock()
        self._goal_lock = threading.Lock()
        self._stop_epoch = 0
        p = self.get_parameter
        self._limits = SafetyLimits(**{k: float(p(k).value) for k in LIMIT_SPECS})
        self._estop = EStopLatch()
        self._period = 1.0 / float(p('control_rate').value)
        self._safety = SafetyLayer(self._limits, self._estop, self._period)
        self._watchdog = LoopWatchdog(self._limits)
        # Safety times: the node clock (sim time under use_sim_time) made jump-safe.
        self._safe_clock = JumpSafeClock(self._now)
        self._sim_time = bool(p('use_sim_time').value)
        self._holds: dict[str, int] = {}
        # Stale inputs the control loop found newer messages for (_catch_up), by input.
        self.caught_up = {'odom': 0, 'scan': 0}
        self._held: str | None = None
        self._watch_stop = threading.Event()
        self.add_on_set_parameters_callback(self._on_set_parameters)

        # Pose estimation, obstacle memory and the route policy (ROS-free).
        self.nav = Navigator(
            self.world, initial_pose=self._array_parameter('initial_pose'),
            lidar_mount=self._array_parameter('lidar_mount'),
            resolution=float(p('plan_resolution').value),
            planner_margin=float(p('planner_margin').value),
            geofence_margin=float(p('geofence_margin').value),
            scan_matching=bool(p('scan_matching').value))

        # Sensor state (odom/scan stamps on the jump-safe clock, others node-clock seconds).
        self._odom_stamp: float | None = None
        self._scan_stamp: float | None = None
        self._scan_base = np.zeros((0, 2))
        self._scan_map = np.zeros((0, 2))
        self._holding = False
        self._suction_on = False
        self._gripper_stamp: float | None = None
        self._frames = RgbdPairer(self.get_parameter('camera_sync_tolerance').value)
        self._k: np.ndarray | None = None
        self._active: _Motion | None = None
        self._zero_cycles = 0
        self._skill = 'idle'
        self._grasp_cancel: Callable[[], bool] = lambda: False

        self._io = ReentrantCallbackGroup()
        self._control_group = MutuallyExclusiveCallbackGroup()
        self._declare_interfaces()
        self._perception = None
        self._grasp = None
        self._make_manipulation()
        self.get_logger().info(
            f'skills node ready: world {self.world.name!r}, initial pose {self.nav.initial}, '
            f'limits {self._limits}')

    # -- setup ------------------------------------------------------------------------------

    def _declare_parameters(self) -> None:
        def declare(name: str, default: object, description: str,
                    low: float | None = None, high: float | None = None) -> None:
            bounds = None if low is None or high is None else (low, high)
            self.declare_parameter(name, default, describe(description, default, bounds))

        declare('world', 'warehouse', 'World description (name in sim/worlds or a path).')
        declare('initial_pose', Parameter.Type.DOUBLE_ARRAY,
                'Map pose [x, y, theta] where odom (0, 0, 0) is; empty = the world start pose.')
        declare('lidar_mount', Parameter.Type.DOUBLE_ARRAY,
                'Lidar pose in base_link [x, y, yaw]; empty = from the world description.')
        for name, topic, what in (
                ('cmd_vel_topic', '/cmd_vel', 'Velocity command output (Twist).'),
                ('odom_topic', '/odom', 'Odometry input (nav_msgs/Odometry).'),
                ('scan_topic', '/scan', 'Lidar input (sensor_msgs/LaserScan).'),
                ('image_topic', '/camera/image_raw', 'Camera image (rgb8 or bgr8).'),
                ('depth_topic', '/camera/depth/image_raw', 'Depth image (32FC1, metres).'),
                ('camera_info_topic', '/camera/camera_info', 'Camera intrinsics.'),
                ('gripper_set_service', '/gripper/set', 'Suction on/off (std_srvs/SetBool).'),
                ('gripper_state_topic', '/gripper/state', 'Suction state (GripperState).'),
                ('estop_topic', '/estop', 'E-stop input (std_msgs/Bool, latches on true).')):
            declare(name, topic, what)
        for name, spec in LIMIT_SPECS.items():
            declare(name, getattr(SafetyLimits(), name), spec.description, spec.low, spec.high)
        declare('scan_matching', True, 'Correct odometry drift by aligning each lidar sweep with '
                'the static map (map pose = correction * initial_pose * odom).')
        declare('control_rate', 20.0, 'Control loop rate (Hz).', 5.0, 100.0)
        declare('camera_sync_tolerance', 0.005, 'Largest stamp difference (s) of a colour and a '
                'depth image taken as one capture (0 = identical stamps).', 0.0, 0.1)
        declare('default_speed', 0.35, 'Cruise speed when a goal gives none (m/s).', 0.05, 2.0)
        declare('contact_speed', 0.1, 'Largest speed of grasp contact approaches (m/s).',
                0.01, 0.3)
        declare('goal_tolerance', 0.05, 'Distance at which a goal position is reached (m).',
                0.02, 0.5)
        declare('yaw_tolerance', 0.05, 'Heading error at which a goal heading is reached (rad).',
                0.01, 0.5)
        declare('plan_resolution', 0.05, 'Planner grid cell size (m).', 0.02, 0.5)
        declare('planner_margin', 0.1, 'Clearance added to the robot radius when planning (m).',
                0.0, 1.0)
        declare('geofence_margin', 0.25, 'How far the robot centre stays inside the world bounds '
                'and outside keep-out zones (m).', 0.0, 2.0)
        declare('block_lookahead', 1.2, 'Route length checked for lidar obstacles (m).', 0.3, 5.0)
        declare('scan_overlay_lifetime', 3.0, 'How long lidar obstacles stay in the planning map '
                '(s).', 0.0, 60.0)
        declare('blocked_memory', 120.0, 'How long an aisle found blocked is avoided (s).',
                0.0, 3600.0)
        declare('move_timeout_margin', 20.0, 'Time allowed beyond the route length at cruise '
                'speed (s).', 1.0, 600.0)

    def _array_parameter(self, name: str) -> list[float]:
        try:
            return list(self.get_parameter(name).value or [])
        except ParameterUninitializedException:
            return []  # not given: the world description provides it

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        changes = {}
        for param in params:
            if param.name in LIMIT_SPECS:
                try:
                    changes[param.name] = check_limit(param.name, param.value)
                except ValueError as e:
                    return SetParametersResult(successful=False, reason=str(e))
            elif param.name == 'use_sim_time':
                self._sim_time = bool(param.value)
        if changes:
            with self._lock:
                try:
                    self._limits = self._limits.replace(**changes)
                except ValueError as e:
                    return SetParametersResult(successful=False, reason=str(e))
                self._safety.limits = self._limits
                self._safety.limiter.limits = self._limits
                self._watchdog.limits = self._limits
            self.get_logger().info(f'safety limits changed: {changes}')
        return SetParametersResult(successful=True)

    def _declare_interfaces(self) -> None:
        p = self.get_parameter
        io = self._io
        self._cmd_pub = self.create_publisher(Twist, p('cmd_vel_topic').value, 10)
        self._event_pub = self.create_publisher(SafetyEvent, '/safety/events', 50)
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._say_pub = self.create_publisher(String, '/say', 10)
        self._pose_pub = self.create_publisher(Pose2D, '/skills/pose', 10)
        # Depth 1: a busy executor takes the newest odometry and scan, not a backlog of old
        # ones (at 50 Hz, depth 20 left every pose the controller used 0.4 s old under load).
        self._odom_sub = self.create_subscription(Odometry, p('odom_topic').value,
                                                  self._on_odom, QoSProfile(depth=1),
                                                  callback_group=io)
        latest_scan = QoSProfile(depth=1, reliability=qos_profile_sensor_data.reliability)
        self._scan_sub = self.create_subscription(LaserScan, p('scan_topic').value,
                                                  self._on_scan, latest_scan, callback_group=io)
        self._camera_subs: list[Any] = []
        self._camera_used = -math.inf
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.create_subscription(GripperState, p('gripper_state_topic').value, self._on_gripper,
                                 latched, callback_group=io)
        self.create_subscription(Bool, p('estop_topic').value, self._on_estop,
                                 QoSProfile(depth=10), callback_group=io)
        self.create_subscription(String, '/skills/stop_request', self._on_stop_request, 10,
                                 callback_group=io)
        self._gripper_client = self.create_client(SetBool, p('gripper_set_service').value,
                                                  callback_group=io)
        self.create_service(Trigger, '/skills/stop', self._srv_stop, callback_group=io)
        self.create_service(Trigger, '/estop/reset', self._srv_estop_reset, callback_group=io)
        self.create_service(Trigger, '/skills/release', self._srv_release, callback_group=io)
        self.create_service(Perceive, '/skills/perceive', self._srv_perceive, callback_group=io)
        self.create_service(PlanRoute, '/skills/plan_route', self._srv_plan_route,
                            callback_group=io)
        accept = self._accept_goal
        cancel = self._accept_cancel
        self._move_server = ActionServer(self, MoveTo, '/skills/move_to', self._execute_move_to,
                                         goal_callback=accept, cancel_callback=cancel,
                                         callback_group=io)
        self._drive_server = ActionServer(self, Drive, '/skills/drive', self._execute_drive,
                                          goal_callback=accept, cancel_callback=cancel,
                                          callback_group=io)
        self._grasp_server = ActionServer(self, Grasp, '/skills/grasp', self._execute_grasp,
                                          goal_callback=accept, cancel_callback=cancel,
                                          callback_group=io)
        self.create_timer(self._period, self._tick, callback_group=self._control_group)
        # The watchdog is a thread, not a timer: the executor's threads can all be blocked in
        # motions, perception polling or gripper calls exactly when the loop is late.
        self._last_tick = self._safe_clock.now()
        self._watch_thread = threading.Thread(target=self._watch_loop, name='skills-watchdog',
                                              daemon=True)
        self._watch_thread.start()
        self.create_timer(1.0, self._publish_diagnostics, callback_group=io)
        self.create_timer(1.0, self._camera_idle_check, callback_group=io)

    def _make_manipulation(self) -> None:
        # Perception and grasp come from the perception engineer's ROS-free skills.
        from codeact_robot.skills.grasp import GraspSkill
        from codeact_robot.skills.perceive import PerceptionSkill

        self._perception = PerceptionSkill(self.world)
        self._grasp = GraspSkill(self.world, self._perception, _GraspPort(self), self._limits)

    # -- time, pose, events -------------------------------------------------------------------

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def map_pose(self) -> Pose2 | None:
        """Return the map pose (initial_pose composed with the latest odom), or None."""
        return self.nav.map_pose()

    def _event(self, kind: str, reason: str, source: str = 'skills') -> None:
        msg = SafetyEvent(kind=kind, reason=reason, source=source)
        msg.stamp = self.get_clock().now().to_msg()
        self._event_pub.publish(msg)
        self.get_logger().warning(f'safety [{kind}] ({source}): {reason}')

    def _publish_cmd(self, linear: float, angular: float) -> None:
        msg = Twist()
        msg.linear.x = float(linear)
        msg.angular.z = float(angular)
        self._cmd_pub.publish(msg)

    # -- sensors ------------------------------------------------------------------------------

    def _on_odom(self, msg: Odometry) -> None:
        stamp = self._data_stamp(msg.header.stamp)
        if self._odom_stamp is not None and stamp < self._odom_stamp:
            return  # overtaken by a newer message (taken by the control loop, see _catch_up)
        q = msg.pose.pose.orientation
        self.nav.update_odom(_stamp_seconds(msg.header.stamp),
                             (msg.pose.pose.position.x, msg.pose.pose.position.y,
                              yaw_from_quaternion(q.x, q.y, q.z, q.w)),
                             (msg.twist.twist.linear.x, msg.twist.twist.angular.z))
        self._odom_stamp = stamp
        pose = self.map_pose()
        if pose is not None:
            self._pose_pub.publish(Pose2D(x=pose[0], y=pose[1], theta=pose[2]))

    def _on_scan(self, msg: LaserScan) -> None:
        pts = self.nav.scan_points(msg.ranges, msg.angle_min, msg.angle_increment,
                                   msg.range_min, msg.range_max)
        scan_map = self.nav.add_scan(_stamp_seconds(msg.header.stamp), pts, self._now())
        stamp = self._data_stamp(msg.header.stamp)
        with self._lock:
            if self._scan_stamp is not None and stamp < self._scan_stamp:
                return  # overtaken by a newer scan (taken by the control loop, see _catch_up)
            self._scan_base = pts
            self._scan_map = scan_map
            self._scan_stamp = stamp

    def _data_stamp(self, header_stamp: Any) -> float:
        """Return a sensor message's time on the jump-safe clock.

        Under use_sim_time the header stamp: the simulator stamps with the same clock, so a
        slow simulator is no stale sensor. On a real robot the receipt time, as other
        machines' clocks may differ from this one's.
        """
        t = _stamp_seconds(header_stamp)
        if self._sim_time and t > 0.0:
            return self._safe_clock.stamp(t)
        return self._safe_clock.now()

    def _on_image(self, msg: Image) -> None:
        data = np.frombuffer(msg.data, dtype=np.uint8).reshape(msg.height, msg.step)
        img = data[:, :msg.width * 3].reshape(msg.height, msg.width, 3)
        if msg.encoding.lower() == 'bgr8':
            img = img[:, :, ::-1]
        image = StampedImage(_stamp_seconds(msg.header.stamp), self._data_stamp(msg.header.stamp),
                             img.copy())
        with self._lock:
            self._frames.add_rgb(image)

    def _on_depth(self, msg: Image) -> None:
        data = np.frombuffer(msg.data, dtype=np.float32).reshape(msg.height, msg.step // 4)
        image = StampedImage(_stamp_seconds(msg.header.stamp), self._data_stamp(msg.header.stamp),
                             data[:, :msg.width].copy())
        with self._lock:
            self._frames.add_depth(image)

    def _on_info(self, msg: CameraInfo) -> None:
        self._k = np.asarray(msg.k, dtype=float).reshape(3, 3)

    def _on_gripper(self, msg: GripperState) -> None:
        self._holding = self.nav.holding = bool(msg.holding)
        self._suction_on = bool(msg.suction_on)
        self._gripper_stamp = self._now()

    def latest_rgbd(self, timeout: float = 5.0
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, Pose] | None:
        """Return a camera frame taken after this call: (rgb, depth, K, map pose), or None.

        Colour and depth come from one capture (paired by header stamp) and the pose is the
        odometry pose at that capture's stamp: a lagging executor delivers frames late, and
        a frame taken while the robot still moved must not be placed where it stands now.
        The camera topics are subscribed only while perception is in use (a simulator renders
        only for subscribers), so the first call after a pause waits for the stream to start.
        """
        asked = self._safe_clock.now()  # frames' freshness is on the jump-safe clock too
        self._camera_on()
        wall_deadline = time.monotonic() + timeout
        while True:
            last_try = time.monotonic() >= wall_deadline
            with self._lock:
                pair = self._frames.newest_pair(since=asked)
                k = self._k
            if pair is not None and k is not None:
                found = self.nav.odom_at(pair[0].stamp)
                # Wait for odometry to pass the capture time (it may lag like the camera),
                # unless time is up: then the pose is extrapolated from the last twist.
                if found is not None and (found[1] or last_try):
                    pose = self.nav.odom_to_map(found[0])
                    return pair[0].data, pair[1].data, k, Pose(*pose)
            if last_try:
                return None
            time.sleep(0.02)

    def _camera_on(self) -> None:
        p = self.get_parameter
        with self._lock:
            self._camera_used = time.monotonic()
            if self._camera_subs:
                return
            for kind, topic, cb in ((Image, p('image_topic').value, self._on_image),
                                    (Image, p('depth_topic').value, self._on_depth),
                                    (CameraInfo, p('camera_info_topic').value, self._on_info)):
                self._camera_subs.append(self.create_subscription(
                    kind, topic, cb, qos_profile_sensor_data, callback_group=self._io))
            self._frames.clear()

    def _camera_idle_check(self) -> None:
        # Unsubscribe when perception is idle: rendering costs the simulator a lot of CPU.
        with self._lock:
            if self._camera_subs and time.monotonic() - self._camera_used > 10.0 \
                    and self._skill != 'grasp':
                for sub in self._camera_subs:
                    self.destroy_subscription(sub)
                self._camera_subs = []

    # -- stop, e-stop -------------------------------------------------------------------------

    def request_stop(self, reason: str, source: str, estop: bool = False) -> None:
        """Stop now: end the running motion and skill, publish zero velocity, report it."""
        with self._lock:
            self._stop_epoch += 1
            active = self._active
            if active is not None:
                message = (ESTOP_PREFIX + f'{reason}; latched until a person resets it' if estop
                           else f'stopped by a stop request: {reason}')
                self._finish(active, MotionOutcome(motion.SAFETY_STOP, message))
            self._publish_cmd(0.0, 0.0)
            self._zero_cycles = 10
        self._event(events.STOP_REQUEST, reason, source)

    def _on_stop_request(self, msg: String) -> None:
        self.request_stop(msg.data or 'stop requested', 'watchdog')

    def _srv_stop(self, request: Trigger.Request, response: Trigger.Response
                  ) -> Trigger.Response:
        self.request_stop('stop requested via /skills/stop', 'operator')
        response.success = True
        response.message = 'stopped'
        return response

    def _on_estop(self, msg: Bool) -> None:
        if not msg.data:
            return  # releasing the button does not restart anything: /estop/reset does
        if self._estop.trigger('e-stop topic'):
            self._event(events.ESTOP, 'e-stop pressed; latched until /estop/reset', 'operator')
        self.request_stop('e-stop pressed', 'operator', estop=True)

    def _srv_estop_reset(self, request: Trigger.Request, response: Trigger.Response
                         ) -> Trigger.Response:
        was = self._estop.reset()
        response.success = True
        response.message = 'e-stop reset' if was else 'e-stop was not latched'
        if was:
            self._event(events.ESTOP, 'e-stop reset by a person', 'operator')
        return response

    # -- control loop -------------------------------------------------------------------------

    def _tick(self) -> None:
        try:
            self._control_step()
        except Exception as e:  # noqa: BLE001 - a failing control step must still stop the robot
            self.get_logger().error(f'control step failed: {type(e).__name__}: {e}')
            with self._lock:
                active = self._active
                if active is not None:
                    self._finish(active, MotionOutcome(
                        motion.SAFETY_STOP, f'safety stop: internal controller error ({e})'))
                self._publish_cmd(0.0, 0.0)
            self._event('internal_error', f'{type(e).__name__}: {e}')
        self._last_tick = self._safe_clock.now()

    def _watch_loop(self) -> None:
        while not self._watch_stop.wait(self._period):
            try:
                self._watch_once()
            except Exception as e:  # noqa: BLE001 - the watchdog must outlive any one check
                self.get_logger().error(f'watchdog check failed: {type(e).__name__}: {e}')
                self._publish_cmd(0.0, 0.0)

    def _watch_once(self) -> None:
        """Hold the robot while the control loop is late; end the motion when it is stuck."""
        # Data-clock time (sim time under use_sim_time): a paused simulator pauses the robot
        # too, which is no stall. Jump-safe: a clock set back does not hide a stall.
        active = self._active
        out = self._watchdog.check(WatchInput(self._safe_clock.now(), self._last_tick,
                                              active is not None))
        if out.hold is None and out.stop is None:
            return
        # Zero first, without the lock: a hung control step may hold it.
        self._publish_cmd(0.0, 0.0)
        if out.stop is not None and active is not None:
            kind, reason = out.stop
            self._finish(active, MotionOutcome(motion.SAFETY_STOP, f'safety stop: {reason}'),
                         lock_timeout=0.2)
            self._event(kind, reason)
        elif out.hold is not None:
            if self._lock.acquire(timeout=0.2):
                try:
                    self._safety.limiter.reset()  # the next cycle ramps up from rest
                finally:
                    self._lock.release()
            self._note_hold(*out.hold)

    def _note_hold(self, kind: str, reason: str) -> None:
        """Count a hold (zero velocity, motion kept); log when holding starts."""
        self._holds[kind] = self._holds.get(kind, 0) + 1
        if self._held is None:
            self.get_logger().info(f'holding the robot ({kind}): {reason}; the next cycle '
                                   'decides with fresh data')
        self._held = kind

    def _catch_up(self) -> None:
        """Read odometry or a scan still waiting in the middleware when the stored one is stale.

        Under CPU load this cycle can run while the sensor callbacks of the same process still
        wait for an executor worker: the sensor published, the node has not read it yet. Taking
        the waiting message here judges the sensor, not the executor's backlog (false stops in
        evaluation runs, issue 12). A sensor that stopped publishing leaves nothing to take, so
        a real dropout still stops the robot at the same limit.
        """
        now = self._safe_clock.now()
        inputs = (('odom', self._odom_sub, self._odom_stamp, self._on_odom),
                  ('scan', self._scan_sub, self._scan_stamp, self._on_scan))
        for name, sub, stamp, handler in inputs:
            if stamp is not None and now - stamp <= self._limits.stale_timeout:
                continue
            msg = _take_waiting(sub)
            if msg is not None:
                handler(msg)
                self.caught_up[name] += 1
                self.get_logger().info(
                    f'{name} was {now - stamp if stamp is not None else math.inf:.2f} s old in '
                    'the control loop while a newer message waited: read it there (the '
                    'executor is behind, the sensor is not)', throttle_duration_sec=5.0)

    def _control_step(self) -> None:
        if self._active is not None:
            self._catch_up()
        now = self._now()
        with self._lock:
            active = self._active
            if active is None:
                self._safety.step(self._cycle(now, None))
                if self._zero_cycles > 0:
                    self._zero_cycles -= 1
                    self._publish_cmd(0.0, 0.0)
                return
            if active.should_cancel():
                self._finish(active, MotionOutcome(motion.CANCELED, 'canceled'))
                self._publish_cmd(0.0, 0.0)
                return
            pose = self.map_pose()
            if pose is None:
                step_cmd: tuple[float, float] | None = (0.0, 0.0)
            else:
                step = active.task.step(now, pose, self._scan_map, self.nav.odom_twist)
                active.distance_remaining = step.distance_remaining
                active.angle_remaining = step.angle_remaining
                active.phase = step.phase
                if step.outcome is not None:
                    self._finish(active, step.outcome)
                    self._publish_cmd(0.0, 0.0)
                    return
                step_cmd = step.command
                if active.max_speed is not None and step_cmd is not None:
                    step_cmd = (max(-active.max_speed, min(active.max_speed, step_cmd[0])),
                                step_cmd[1])
            min_clearance = active.min_clearance
            if isinstance(active.task, FollowPathTask) and pose is not None:
                # Final approach to a goal in front of furniture (a dock, a station): what lies
                # beyond the stopping point, with FINAL_MARGIN to spare, is not in the way.
                # The follower is slower than 1 m/s per metre left there.
                limit = self._limits.min_obstacle_distance
                min_clearance = min(limit, active.distance_remaining + FINAL_MARGIN)
            out = self._safety.step(self._cycle(now, step_cmd, min_clearance))
            for kind, reason in out.events:
                self._event(kind, reason)
            if out.stop is not None:
                self._finish(active, self._stop_outcome(active, pose, out.stop))
            if out.hold is not None:
                self._note_hold(*out.hold)
            else:
                self._held = None
            self._publish_cmd(out.linear, out.angular)

    def _cycle(self, now: float, command: tuple[float, float] | None,
               min_clearance: float | None = None) -> CycleInput:
        now = self._safe_clock.now()  # the safety layer's times are jump-safe
        return CycleInput(now=now, command=command, command_stamp=now,
                          odom_stamp=self._odom_stamp, scan_stamp=self._scan_stamp,
                          scan_points=self._scan_base, footprint=self.nav.body(),
                          min_clearance=min_clearance)

    def _stop_outcome(self, active: _Motion, pose: Pose2 | None,
                      stop: tuple[str, str]) -> MotionOutcome:
        kind, reason = stop
        if kind == events.OBSTACLE_STOP and pose is not None:
            from codeact_robot.safety.monitor import clearance_ahead
            task = active.task
            direction = 1.0
            if isinstance(task, DriveTask):
                direction = math.copysign(1.0, task.distance) if task.distance else 1.0
            dist = clearance_ahead(self._scan_base, self.nav.body(), direction)
            if isinstance(task, FollowPathTask):
                if task.near_end(pose):
                    return MotionOutcome(motion.ARRIVED, f'arrived at ({pose[0]:.2f}, '
                                         f'{pose[1]:.2f}) (stopped short before an obstacle)')
                return task.blocked(pose, None, dist)
            aisle = self.world.aisle_at(pose[0], pose[1])
            where = f'in {aisle} ' if aisle else ''
            return MotionOutcome(motion.BLOCKED, f'blocked {where}at ({pose[0]:.2f}, '
                                 f'{pose[1]:.2f}): {reason}', (pose[0], pose[1]), aisle, dist)
        if kind == events.ESTOP:
            return MotionOutcome(motion.SAFETY_STOP, ESTOP_PREFIX + reason)
        return MotionOutcome(motion.SAFETY_STOP, f'safety stop: {reason}')

    def _finish(self, active: _Motion, outcome: MotionOutcome,
                lock_timeout: float = -1.0) -> None:
        locked = self._lock.acquire(timeout=lock_timeout)
        try:
            # Without the lock only when a hung control step holds it (the watchdog's case).
            if active.outcome is None:
                active.outcome = outcome
            if self._active is active:
                self._active = None
                self._zero_cycles = 10
        finally:
            if locked:
                self._lock.release()
        active.done.set()

    def run_motion(self, task: FollowPathTask | DriveTask, budget: float,
                   should_cancel: Callable[[], bool] = lambda: False,
                   min_clearance: float | None = None, max_speed: float | None = None,
                   feedback: Callable[[_Motion], None] | None = None) -> MotionOutcome:
        """Run a motion task on the control loop and block until it ends (bounded)."""
        active = _Motion(task, should_cancel, min_clearance, max_speed)
        refusal = self._refuse_start()
        if refusal is not None:
            return refusal
        reason = self._stale_odom_at_start()
        if reason is not None:
            self._event(events.STALE_ODOM, f'motion refused: odometry {reason}')
            return MotionOutcome(motion.SAFETY_STOP, f'safety stop: odometry {reason}')
        with self._lock:
            refusal = self._refuse_start()
            if refusal is not None:
                return refusal
            self._safety.limiter.reset()
            self._active = active
        # Wall-clock backstop in case the clock (e.g. /clock from a simulator) stops.
        wall_deadline = time.monotonic() + 3.0 * budget + 10.0
        while not active.done.wait(0.1):
            if feedback is not None:
                feedback(active)
            if time.monotonic() > wall_deadline:
                self._finish(active, MotionOutcome(motion.TIMED_OUT, 'timed out (no progress '
                                                   'of the clock or the robot)'))
                with self._lock:
                    self._publish_cmd(0.0, 0.0)
        assert active.outcome is not None
        return active.outcome

    def _refuse_start(self) -> MotionOutcome | None:
        with self._lock:
            if self._estop.active:
                return MotionOutcome(motion.SAFETY_STOP, ESTOP_PREFIX + 'the e-stop is latched; '
                                     'a person must reset it. Do not retry.')
            if self._active is not None:
                return MotionOutcome(motion.INVALID, 'another motion is running; stop() first')
        return None

    def _stale_odom_at_start(self) -> str | None:
        """Return why odometry is too old to start a motion, after a bounded wait for fresh.

        Odometry just past ``stale_timeout`` is waited for (up to ``stale_grace``), as the
        control loop would hold the robot for it; it is refused past the stop limit.
        """
        lim = self._limits
        wall_end = time.monotonic() + lim.stale_grace + 1.0
        while True:
            now = self._safe_clock.now()
            if staleness(now, self._odom_stamp, lim.stale_timeout) is None:
                return None
            reason = staleness(now, self._odom_stamp, lim.stale_timeout + lim.stale_grace)
            if reason is not None or time.monotonic() > wall_end:
                return reason or 'no fresh message within the grace time'
            time.sleep(0.01)

    # -- planning -------------------------------------------------------------------------------

    def known_zones(self) -> list[str]:
        """Return the names allowed in ``avoid``: aisles and keep-out zones."""
        return self.nav.known_zones()

    def plan(self, goal: tuple[float, float], avoid: list[str]) -> tuple[Plan, list[str]]:
        """Plan from the current pose; return (plan, aisles seen or remembered as blocked)."""
        return self.nav.plan(goal, avoid, self._now(), self._overlay_lifetime())

    def _overlay_lifetime(self) -> float:
        return float(self.get_parameter('scan_overlay_lifetime').value)

    def _srv_plan_route(self, request: PlanRoute.Request, response: PlanRoute.Response
                        ) -> PlanRoute.Response:
        try:
            x = check_number('x', request.x, -1e4, 1e4)
            y = check_number('y', request.y, -1e4, 1e4)
            avoid = check_names('avoid', list(request.avoid), self.known_zones())
        except InvalidArgumentError as e:
            response.success = False
            response.message = f'invalid argument: {e}'
            self._event('rejected_argument', str(e))
            return response
        plan, blocked = self.plan((x, y), avoid)
        response.blocked_aisles = blocked
        response.success = plan.ok
        response.message = plan.message
        if plan.ok:
            refusal = self.nav.geofence.check_path(plan.waypoints)
            if refusal is not None:
                response.success = False
                response.message = REFUSED + refusal
                return response
            response.length = float(plan.length)
            response.waypoints = [PointMsg(x=float(px), y=float(py)) for px, py in plan.waypoints]
            response.aisles = self.nav.route_aisles(plan.waypoints)
        return response

    # -- actions --------------------------------------------------------------------------------

    def _accept_goal(self, goal_request: object) -> GoalResponse:
        # Every goal is accepted so that refusals reach the caller as a result with a message.
        return GoalResponse.ACCEPT

    def _accept_cancel(self, goal_handle: object) -> CancelResponse:
        return CancelResponse.ACCEPT

    def _reject(self, kind: str, reason: str) -> MotionOutcome:
        self._event(kind, reason)
        return MotionOutcome(motion.INVALID, reason)

    def _execute_move_to(self, goal_handle: object) -> MoveTo.Result:
        goal = goal_handle.request  # type: ignore[attr-defined]
        if not self._goal_lock.acquire(blocking=False):
            outcome = MotionOutcome(motion.INVALID, f'busy with {self._skill}; stop() first')
        else:
            try:
                self._skill = 'move_to'
                outcome = self._move_to(goal, goal_handle)
            finally:
                self._skill = 'idle'
                self._goal_lock.release()
        return self._move_result(goal_handle, outcome)

    def _move_to(self, goal: MoveTo.Goal, goal_handle: object) -> MotionOutcome:
        lim = self._limits
        try:
            x = check_number('x', goal.x, -1e4, 1e4)
            y = check_number('y', goal.y, -1e4, 1e4)
            theta = check_number('theta', goal.theta, -10.0, 10.0) if goal.use_theta else None
            speed = check_number('speed', goal.speed, 0.0, lim.max_linear_speed,
                                 f'; the limit is {lim.max_linear_speed:g} m/s')
            avoid = check_names('avoid', list(goal.avoid), self.known_zones())
        except InvalidArgumentError as e:
            return self._reject('rejected_argument', str(e))
        refusal = self.nav.geofence.check_point((x, y))
        if refusal is not None:
            self._event('geofence', f'goal refused: {refusal}')
            return MotionOutcome(motion.SAFETY_STOP, REFUSED + f'goal {refusal}')
        plan, _ = self.plan((x, y), avoid)
        if not plan.ok:
            return MotionOutcome(motion.NO_PATH, plan.message)
        refusal = self.nav.geofence.check_path(plan.waypoints)
        if refusal is not None:
            self._event('geofence', f'route refused: {refusal}')
            return MotionOutcome(motion.SAFETY_STOP, REFUSED + refusal)
        speed = speed or min(float(self.get_parameter('default_speed').value),
                             lim.max_linear_speed)
        budget = plan.length / speed + float(self.get_parameter('move_timeout_margin').value)
        from codeact_robot.nav.follower import FollowerConfig
        config = FollowerConfig(goal_tolerance=float(self.get_parameter('goal_tolerance').value),
                                yaw_tolerance=float(self.get_parameter('yaw_tolerance').value))
        task = FollowPathTask(plan.waypoints, speed, lim.max_angular_speed, theta,
                              self._now() + budget, self.nav.body(), self.world.aisle_at,
                              float(self.get_parameter('block_lookahead').value), config=config)

        def feedback(active: _Motion) -> None:
            pose = self.map_pose() or (0.0, 0.0, 0.0)
            fb = MoveTo.Feedback(pose=Pose2D(x=pose[0], y=pose[1], theta=pose[2]),
                                 distance_remaining=float(min(active.distance_remaining, 1e6)),
                                 phase=active.phase)
            goal_handle.publish_feedback(fb)  # type: ignore[attr-defined]

        outcome = self.run_motion(task, budget, lambda: goal_handle.is_cancel_requested,
                                  feedback=feedback)
        if outcome.status == motion.BLOCKED:
            outcome = self._explain_blocked(outcome, (x, y), avoid)
        return outcome

    def _explain_blocked(self, outcome: MotionOutcome, goal: tuple[float, float],
                         avoid: list[str]) -> MotionOutcome:
        aisle = outcome.blocked_aisle
        if not aisle:
            return MotionOutcome(outcome.status, outcome.message + '; plan_route or move_to again '
                                 'to go around it', outcome.blocked_at, None,
                                 outcome.obstacle_distance)
        now = self._now()
        self.nav.remember_blocked(aisle, now + float(self.get_parameter('blocked_memory').value))
        hint = self.nav.detour_hint(aisle, goal, avoid, now, self._overlay_lifetime())
        return MotionOutcome(outcome.status, f'{outcome.message}; {hint}', outcome.blocked_at,
                             aisle, outcome.obstacle_distance)

    def _move_result(self, goal_handle: object, outcome: MotionOutcome) -> MoveTo.Result:
        pose = self.map_pose() or (math.nan, math.nan, math.nan)
        result = MoveTo.Result(status=_MOVE_STATUS[outcome.status], message=outcome.message,
                               final_pose=Pose2D(x=pose[0], y=pose[1], theta=pose[2]),
                               blocked_aisle=outcome.blocked_aisle or '',
                               obstacle_distance=float(outcome.obstacle_distance or 0.0))
        if outcome.blocked_at is not None:
            result.blocked_at = PointMsg(x=float(outcome.blocked_at[0]),
                                         y=float(outcome.blocked_at[1]))
        self._end_goal(goal_handle, outcome)
        return result

    def _end_goal(self, goal_handle: object, outcome: MotionOutcome) -> None:
        log = self.get_logger()
        log.info(f'goal ended: {outcome.status}: {outcome.message}')
        if outcome.status == motion.CANCELED and goal_handle.is_cancel_requested:  # type: ignore
            goal_handle.canceled()  # type: ignore[attr-defined]
        elif outcome.status == motion.ARRIVED:
            goal_handle.succeed()  # type: ignore[attr-defined]
        else:
            goal_handle.abort()  # type: ignore[attr-defined]

    def _execute_drive(self, goal_handle: object) -> Drive.Result:
        goal = goal_handle.request  # type: ignore[attr-defined]
        if not self._goal_lock.acquire(blocking=False):
            outcome = MotionOutcome(motion.INVALID, f'busy with {self._skill}; stop() first')
        else:
            try:
                self._skill = 'drive'
                outcome = self._drive(goal, goal_handle)
            finally:
                self._skill = 'idle'
                self._goal_lock.release()
        pose = self.map_pose() or (math.nan, math.nan, math.nan)
        result = Drive.Result(status=_DRIVE_STATUS[outcome.status], message=outcome.message,
                              final_pose=Pose2D(x=pose[0], y=pose[1], theta=pose[2]),
                              obstacle_distance=float(outcome.obstacle_distance or 0.0))
        self._end_goal(goal_handle, outcome)
        return result

    def _drive(self, goal: Drive.Goal, goal_handle: object | None = None,
               contact: bool = False, should_cancel: Callable[[], bool] | None = None
               ) -> MotionOutcome:
        lim = self._limits
        try:
            distance = check_number('distance', goal.distance, -lim.max_move_distance,
                                    lim.max_move_distance)
            angle = check_number('angle', goal.angle, -lim.max_turn_angle, lim.max_turn_angle)
            speed = check_number('speed', goal.speed, 0.0, lim.max_linear_speed,
                                 f'; the limit is {lim.max_linear_speed:g} m/s')
        except InvalidArgumentError as e:
            return self._reject('rejected_argument', str(e))
        pose = self.map_pose()
        if pose is not None and distance:
            end = to_parent(pose, (distance, 0.0))
            refusal = self.nav.geofence.check_path([pose[:2], end])
            if refusal is not None:
                self._event('geofence', f'drive refused: {refusal}')
                return MotionOutcome(motion.SAFETY_STOP, REFUSED + refusal)
        speed = speed or min(float(self.get_parameter('default_speed').value),
                             lim.max_linear_speed)
        max_speed = None
        min_clearance = None
        if contact:
            max_speed = float(self.get_parameter('contact_speed').value)
            speed = min(speed, max_speed)
            min_clearance = -1.0  # touching the object ahead is the point of this motion
        budget = abs(distance) / max(speed, 0.01) + abs(angle) / lim.max_angular_speed + 5.0
        if contact:
            budget = abs(distance) / max(speed, 0.01) + 2.0
        task = DriveTask(distance, angle, speed, lim.max_angular_speed, self._now() + budget)
        if should_cancel is None and goal_handle is not None:
            def should_cancel() -> bool:
                return goal_handle.is_cancel_requested  # type: ignore[attr-defined]

        def feedback(active: _Motion) -> None:
            if goal_handle is None:
                return
            p = self.map_pose() or (0.0, 0.0, 0.0)
            goal_handle.publish_feedback(Drive.Feedback(  # type: ignore[attr-defined]
                pose=Pose2D(x=p[0], y=p[1], theta=p[2]),
                distance_remaining=float(min(active.distance_remaining, 1e6)),
                angle_remaining=float(active.angle_remaining)))

        return self.run_motion(task, budget, should_cancel or (lambda: False), min_clearance,
                               max_speed, feedback)

    def _execute_grasp(self, goal_handle: object) -> Grasp.Result:
        goal = goal_handle.request  # type: ignore[attr-defined]
        if not self._goal_lock.acquire(blocking=False):
            result = Grasp.Result(status=Grasp.Result.INVALID, holding=self._holding,
                                  message=f'busy with {self._skill}; stop() first')
            goal_handle.abort()  # type: ignore[attr-defined]
            return result
        try:
            self._skill = 'grasp'
            epoch = self._stop_epoch

            def should_cancel() -> bool:
                return bool(goal_handle.is_cancel_requested  # type: ignore[attr-defined]
                            or self._stop_epoch != epoch or self._estop.active)

            def feedback(phase: str, distance: float) -> None:
                goal_handle.publish_feedback(  # type: ignore[attr-defined]
                    Grasp.Feedback(phase=phase, distance=float(distance)))

            self._grasp_cancel = should_cancel
            if self._estop.active:
                result = Grasp.Result(status=Grasp.Result.SAFETY_STOP, holding=self._holding,
                                      message=ESTOP_PREFIX + 'the e-stop is latched; a person '
                                      'must reset it. Do not retry.')
            else:
                outcome = self._grasp.run(str(goal.target), should_cancel, feedback)
                message = outcome.message
                status = int(outcome.status)
                if status == Grasp.Result.CANCELED and self._estop.active:
                    status = Grasp.Result.SAFETY_STOP
                    message = ESTOP_PREFIX + 'the e-stop was pressed during the grasp'
                elif status == Grasp.Result.CANCELED and self._stop_epoch != epoch:
                    status = Grasp.Result.SAFETY_STOP
                    message = 'the grasp was stopped by a stop request'
                result = Grasp.Result(status=status, message=message, holding=outcome.holding)
        finally:
            self._skill = 'idle'
            self._goal_lock.release()
        if result.status == Grasp.Result.CANCELED and goal_handle.is_cancel_requested:  # type: ignore
            goal_handle.canceled()  # type: ignore[attr-defined]
        elif result.status == Grasp.Result.HELD:
            goal_handle.succeed()  # type: ignore[attr-defined]
        else:
            goal_handle.abort()  # type: ignore[attr-defined]
        self.get_logger().info(f'grasp {goal.target!r}: {result.status} {result.message}')
        return result

    # -- gripper, perception --------------------------------------------------------------------

    def set_suction(self, on: bool, timeout: float = 3.0) -> bool:
        """Switch suction via the gripper service; return its success (bounded wait)."""
        if not self._gripper_client.wait_for_service(timeout_sec=timeout):
            self.get_logger().error('gripper service is not available')
            return False
        done = threading.Event()
        future = self._gripper_client.call_async(SetBool.Request(data=on))
        future.add_done_callback(lambda _f: done.set())
        if not done.wait(timeout):
            self.get_logger().error('gripper service did not answer')
            return False
        res = future.result()
        return bool(res is not None and res.success)

    def _srv_release(self, request: Trigger.Request, response: Trigger.Response
                     ) -> Trigger.Response:
        response.success = self.set_suction(False)
        response.message = 'suction off' if response.success else 'the gripper did not answer'
        return response

    def _srv_perceive(self, request: Perceive.Request, response: Perceive.Response
                      ) -> Perceive.Response:
        frame = self.latest_rgbd()
        if frame is None:
            response.success = False
            response.message = 'no camera image received yet; wait a moment and try again'
            return response
        detections = self._perception.detect(*frame)
        response.success = True
        response.message = f'{len(detections)} detections'
        response.detections = [DetectionMsg(
            label=d.label, color=d.color, marker_id=-1 if d.marker_id is None else d.marker_id,
            position=PointMsg(x=float(d.x), y=float(d.y)), distance=float(d.distance),
            bearing=float(d.bearing), confidence=float(d.confidence)) for d in detections]
        return response

    # -- diagnostics ----------------------------------------------------------------------------

    def _publish_diagnostics(self) -> None:
        now = self._now()
        safe_now = self._safe_clock.now()
        odom = staleness(safe_now, self._odom_stamp, self._limits.stale_timeout)
        scan = staleness(safe_now, self._scan_stamp, self._limits.stale_timeout)
        level, message = DiagnosticStatus.OK, 'ok'
        if odom or scan:
            level, message = DiagnosticStatus.WARN, f'odom: {odom or "ok"}, scan: {scan or "ok"}'
        if self._estop.active:
            level, message = DiagnosticStatus.ERROR, f'e-stop latched: {self._estop.reason}'
        pose = self.map_pose()
        match = self.nav.localizer.last if self.nav.localizer is not None else None
        values = {'skill': self._skill,
                  'scan_match': 'off' if match is None else
                  f'ok={match.ok} rms={match.rms:.3f} inliers={match.inliers}',
                  'estop': str(self._estop.active),
                  'holding': str(self._holding), 'pose': str(pose),
                  'blocked_aisles': ', '.join(self.nav.remembered_blocked(now)),
                  'holds': ', '.join(f'{k}: {n}' for k, n in sorted(self._holds.items())),
                  'caught_up': ', '.join(f'{k}: {n}' for k, n in sorted(self.caught_up.items())),
                  'clock_backward_jumps': str(self._safe_clock.backward_jumps),
                  **{k: f'{getattr(self._limits, k):g}' for k in LIMIT_SPECS}}
        status = DiagnosticStatus(level=level, name='codeact_robot: skills', message=message,
                                  hardware_id='skills_node',
                                  values=[KeyValue(key=k, value=v) for k, v in values.items()])
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(msg)

    def destroy_node(self) -> None:
        """Stop the watchdog thread, then destroy the node."""
        self._watch_stop.set()
        thread = getattr(self, '_watch_thread', None)  # absent if __init__ failed
        if thread is not None and threading.current_thread() is not thread:
            thread.join(timeout=2.0)
        super().destroy_node()

    def say(self, text: str) -> None:
        """Publish and log what the robot says."""
        self._say_pub.publish(String(data=text))
        self.get_logger().info(f'say: {text}')


class _GraspPort:
    """GraspMotionPort of the grasp skill: every motion goes through the node's safety layer."""

    def __init__(self, node: SkillsNode) -> None:
        self._node = node

    def latest_rgbd(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, Pose] | None:
        return self._node.latest_rgbd()

    def drive_straight(self, distance: float, speed: float, contact: bool = False) -> str:
        goal = Drive.Goal(distance=float(distance), angle=0.0, speed=float(speed))
        node = self._node
        return node._drive(goal, contact=contact, should_cancel=node._grasp_cancel).status

    def turn(self, angle: float) -> str:
        node = self._node
        goal = Drive.Goal(distance=0.0, angle=float(angle), speed=0.0)
        return node._drive(goal, should_cancel=node._grasp_cancel).status

    def set_suction(self, on: bool) -> None:
        self._node.set_suction(on)

    def holding(self) -> bool:
        return self._node._holding

    def stop(self) -> None:
        with self._node._lock:
            self._node._publish_cmd(0.0, 0.0)

    def wait(self, seconds: float) -> None:
        node = self._node
        end = node._now() + seconds
        wall_end = time.monotonic() + 5.0 * seconds + 1.0
        while node._now() < end and time.monotonic() < wall_end:
            time.sleep(0.02)


def main(args: list[str] | None = None) -> None:
    """Run the skills node until interrupted."""
    rclpy.init(args=args)
    spin_until_shutdown(SkillsNode, num_threads=4)
