"""sim_node: the embedded MuJoCo warehouse behind the ROS 2 interfaces of a ros_gz diff-drive AMR.

Topics: /cmd_vel (in), /odom, /scan, /camera/image_raw, /camera/depth/image_raw,
/camera/camera_info, /joint_states, /clock, /gripper/state; services /gripper/set (SetBool),
/sim/set_obstacle (SetObstacle); simulator-only /sim/ground_truth (tests and benchmarks only).
Physics runs on its own thread, paced by ``real_time_factor`` (0 = as fast as possible); every
message is stamped with sim time. On a loaded machine the camera is degraded first (frames
skipped, ``sim/pacing.py``) so that /clock, /odom and /scan, the robot's safety inputs, keep
their rates in wall time too; /cmd_vel never waits for the physics thread. Publishers are
reliable, so both reliable and best-effort (sensor-data QoS) subscribers receive them.
"""

from __future__ import annotations

import argparse
import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import rclpy
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Pose as PoseMsg
from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState, LaserScan
from std_srvs.srv import SetBool

from codeact_robot.nodes.parameters import describe
from codeact_robot.nodes.ros_log import log_graph
from codeact_robot.nodes.runner import spin_until_shutdown
from codeact_robot.nodes.tf_frames import PlanarTransform, publish_fixed_frames
from codeact_robot.sim import SimError, WarehouseSim
from codeact_robot.sim.camera import RenderError
from codeact_robot.sim.pacing import CameraThrottle, RestMode
from codeact_robot.world import WorldError
from codeact_robot.world.frames import (
    BASE_FRAME,
    CAMERA_OPTICAL_FRAME,
    LASER_FRAME,
    MAP_FRAME,
    ODOM_FRAME,
)
from codeact_robot_interfaces.msg import GripperState, GroundTruth
from codeact_robot_interfaces.srv import SetObstacle

NODE_NAME = 'sim_node'
CAMERA_FRAME = CAMERA_OPTICAL_FRAME
WHEEL_JOINTS = ('left_wheel_joint', 'right_wheel_joint')
MAX_LAG = 0.5  # s of wall time behind schedule before pacing gives up catching up

_PARAMS: dict[str, tuple[Any, str, tuple[float, float] | None]] = {
    'world': ('warehouse', 'World name (sim/worlds/<name>.yaml) or path', None),
    'scenario': ('default', 'Scenario name (sim/scenarios/<name>.yaml) or path', None),
    'seed': (-1, 'Random seed; -1 = the scenario\'s seed', (-1, 2**31 - 1)),
    'real_time_factor': (1.0, 'Sim seconds per wall second; 0 = as fast as possible',
                         (0.0, 1000.0)),
    'physics_rate': (250.0, 'Physics steps per sim second (Hz)', (50.0, 5000.0)),
    'odom_rate': (50.0, '/odom and /joint_states rate (Hz, sim time)', (1.0, 1000.0)),
    'scan_rate': (10.0, '/scan rate (Hz, sim time)', (1.0, 100.0)),
    'camera_rate': (10.0, 'Camera rate (Hz, sim time); renders only with subscribers',
                    (0.5, 60.0)),
    'camera_width': (320, 'Camera image width (px)', (16, 1280)),
    'camera_height': (240, 'Camera image height (px)', (16, 960)),
    'enable_camera': (True, 'Publish the camera topics', None),
    'clock_rate': (100.0, '/clock rate (Hz, sim time)', (10.0, 1000.0)),
    'publish_clock': (True, 'Publish /clock (false: another node provides it, e.g. a log '
                      'player)', None),
    'ground_truth_rate': (20.0, '/sim/ground_truth rate (Hz, sim time)', (1.0, 200.0)),
    'cmd_timeout': (0.5, 'Stop when no /cmd_vel arrived for this long (s, sim time)',
                    (0.05, 10.0)),
    'viewer': (False, 'Open a MuJoCo viewer window (needs a display)', None),
    'cmd_vel_stamped': (False, 'Take /cmd_vel as TwistStamped (as ros2_control\'s '
                        'diff_drive_controller does by default) instead of Twist', None),
    'publish_tf': (True, 'Publish odom -> base_link on /tf (as a Gazebo diff-drive plugin does) '
                   'and the sensor frames of the world\'s robot block on /tf_static (false: '
                   'a robot_state_publisher provides them)', None),
    'rest_when_idle': (False, 'Slow /clock, /odom, /joint_states and /scan to the rest rates '
                       'while the robot stands still and nobody commands it (gives CPU to the '
                       'model); the first moving /cmd_vel restores the full rates', None),
    'rest_after': (2.0, 'Sim seconds without a moving /cmd_vel before the robot rests',
                   (0.0, 60.0)),
    'rest_clock_rate': (20.0, '/clock rate at rest (Hz, sim time)', (10.0, 1000.0)),
    'rest_odom_rate': (10.0, '/odom and /joint_states rate at rest (Hz, sim time)', (2.0, 1000.0)),
    'rest_scan_rate': (5.0, '/scan rate at rest (Hz, sim time)', (2.0, 100.0)),
}
_RUNTIME = ('real_time_factor', 'odom_rate', 'scan_rate', 'camera_rate', 'clock_rate',
            'ground_truth_rate', 'cmd_timeout', 'enable_camera', 'publish_clock',
            'rest_when_idle', 'rest_after', 'rest_clock_rate', 'rest_odom_rate', 'rest_scan_rate')
# Streams whose rate drops at rest, and the parameters of their full and rest rates.
_REST_STREAMS = {'clock': ('clock_rate', 'rest_clock_rate'),
                 'odom': ('odom_rate', 'rest_odom_rate'), 'scan': ('scan_rate', 'rest_scan_rate')}
CAMERA_REPORT_PERIOD = 10.0  # s of wall time between log lines about skipped camera frames


def stamp(t: float) -> Time:
    """Return a builtin_interfaces/Time for ``t`` seconds."""
    sec = math.floor(t)
    return Time(sec=int(sec), nanosec=min(999_999_999, round((t - sec) * 1e9)))



class _Schedule:
    """Sim-time deadlines of one periodic publisher."""

    def __init__(self, rate: float, start: float) -> None:
        self.period = 1.0 / rate
        self.next = start

    def set_rate(self, rate: float, t: float) -> None:
        """Change the rate from sim time ``t`` on (a faster rate takes effect at once)."""
        self.period = 1.0 / rate
        self.next = min(self.next, t + self.period)

    def due(self, t: float) -> bool:
        """Return True (and schedule the next deadline) when ``t`` reached the deadline."""
        if t + 1e-9 < self.next:
            return False
        self.next += self.period
        if self.next <= t:  # fell behind (rate changed): skip, do not burst
            self.next = t + self.period
        return True


class SimNode(Node):
    """ROS 2 shell around WarehouseSim: same topics, types and frames as a ros_gz robot."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(NODE_NAME, **kwargs)
        for name, (default, text, bounds) in _PARAMS.items():
            self.declare_parameter(name, default, describe(text, default, bounds,
                                                           read_only=name not in _RUNTIME))
        p = {name: self.get_parameter(name).value for name in _PARAMS}
        try:
            self._sim = WarehouseSim(p['world'], p['scenario'],
                                     seed=None if p['seed'] < 0 else p['seed'],
                                     physics_rate=p['physics_rate'], cmd_timeout=p['cmd_timeout'])
        except (WorldError, OSError) as e:
            raise ValueError(f'sim_node: cannot load world/scenario: {e}') from e
        self._params = p
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._rate_changed = threading.Event()
        self._rest = RestMode(bool(p['rest_when_idle']), float(p['rest_after']))
        self._render_failed = False
        self._viewer: Any = None
        self._events_seen = 0
        self.camera_throttle = CameraThrottle()
        self._camera_reported = (time.monotonic(), 0)
        # /cmd_vel is handed to the physics thread through this slot: the callback never waits
        # for a physics step or a camera render (it runs on a shared executor's thread).
        self._cmd_lock = threading.Lock()
        self._pending_cmd: tuple[float, float] | None = None
        self.add_on_set_parameters_callback(self._on_set_parameters)

        # Deep enough that a briefly slow subscriber does not lose the 50-100 Hz streams.
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        images = QoSProfile(depth=2, reliability=ReliabilityPolicy.RELIABLE)
        latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self._pub_odom = self.create_publisher(Odometry, 'odom', reliable)
        self._pub_scan = self.create_publisher(LaserScan, 'scan', reliable)
        self._pub_joints = self.create_publisher(JointState, 'joint_states', reliable)
        self._pub_clock = self.create_publisher(Clock, '/clock', reliable)
        self._pub_image = self.create_publisher(Image, 'camera/image_raw', images)
        self._pub_depth = self.create_publisher(Image, 'camera/depth/image_raw', images)
        self._pub_info = self.create_publisher(CameraInfo, 'camera/camera_info', reliable)
        self._pub_gripper = self.create_publisher(GripperState, 'gripper/state', latched)
        self._pub_truth = self.create_publisher(GroundTruth, 'sim/ground_truth', reliable)
        if p['cmd_vel_stamped']:
            self.create_subscription(TwistStamped, 'cmd_vel',
                                     lambda msg: self._on_cmd_vel(msg.twist), 10)
        else:
            self.create_subscription(Twist, 'cmd_vel', self._on_cmd_vel, 10)
        self.create_service(SetBool, 'gripper/set', self._on_gripper_set)
        self.create_service(SetObstacle, 'sim/set_obstacle', self._on_set_obstacle)

        self._clock_msg = Clock()
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
        if p['publish_tf']:
            self._static_tf = publish_fixed_frames(self, self._sim.world.robot)
            self._odom_tf = PlanarTransform(self, ODOM_FRAME, BASE_FRAME)

        self._thread = threading.Thread(target=self._run, name='sim-physics', daemon=True)
        self._thread.start()
        scenario = self._sim.scenario.name if self._sim.scenario else '-'
        self.get_logger().info(
            f'warehouse simulator: world {self._sim.world.name}, scenario {scenario}, '
            f'seed {self._sim.seed}, real_time_factor {p["real_time_factor"]}')
        log_graph(self)

    # --- parameters -----------------------------------------------------------------------------
    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        for param in params:
            if param.name not in _PARAMS:
                continue
            if param.name not in _RUNTIME:
                return SetParametersResult(successful=False,
                                           reason=f'{param.name} is fixed at startup')
            bounds = _PARAMS[param.name][2]
            if bounds is not None and not bounds[0] <= param.value <= bounds[1]:
                return SetParametersResult(successful=False,
                                           reason=f'{param.name} must be in {bounds}')
        for param in params:
            if param.name in _PARAMS:
                self._params[param.name] = param.value
        self._rate_changed.set()
        return SetParametersResult(successful=True)

    # --- inputs ---------------------------------------------------------------------------------
    def _on_cmd_vel(self, msg: Twist) -> None:
        if not (math.isfinite(msg.linear.x) and math.isfinite(msg.angular.z)):
            self.get_logger().warning('ignoring non-finite /cmd_vel')
            return
        with self._cmd_lock:
            self._pending_cmd = (msg.linear.x, msg.angular.z)

    def _apply_cmd(self) -> None:
        """Apply the latest /cmd_vel at a step boundary (physics thread, under the lock)."""
        with self._cmd_lock:
            cmd, self._pending_cmd = self._pending_cmd, None
        if cmd is not None:
            self._sim.set_cmd_vel(*cmd)
            self._rest.command(self._sim.time, *cmd)

    def _on_gripper_set(self, request: SetBool.Request,
                        response: SetBool.Response) -> SetBool.Response:
        with self._lock:
            before = self._sim.gripper()
            state = self._sim.set_suction(request.data)
            t = self._sim.time
        if request.data:
            held = f'holding {state.held}' if state.holding else 'nothing sealed against the pad'
            response.message = f'suction on, {held}'
        else:
            dropped = f', released {before.held}' if before.holding else ''
            response.message = f'suction off{dropped}'
        response.success = True
        self._publish_gripper(state.suction_on, state.holding, t)
        return response

    def _on_set_obstacle(self, request: SetObstacle.Request,
                         response: SetObstacle.Response) -> SetObstacle.Response:
        try:
            with self._lock:
                response.message = self._sim.set_obstacle(
                    request.name, request.kind or 'pallet', request.aisle,
                    None if request.aisle else request.x, None if request.aisle else request.y,
                    request.present)
            response.success = True
        except SimError as e:
            response.success = False
            response.message = str(e)
        return response

    # --- physics thread -------------------------------------------------------------------------
    def _rate(self, stream: str) -> float:
        full, rest = _REST_STREAMS[stream]
        p = self._params
        return min(p[full], p[rest]) if self._rest.resting else p[full]

    def _schedules(self) -> dict[str, _Schedule]:
        t, p = self._sim.time, self._params
        self._rest.enabled = bool(p['rest_when_idle'])
        self._rest.after = float(p['rest_after'])
        return {'clock': _Schedule(self._rate('clock'), t),
                'odom': _Schedule(self._rate('odom'), t),
                'scan': _Schedule(self._rate('scan'), t), 'camera': _Schedule(p['camera_rate'], t),
                'truth': _Schedule(p['ground_truth_rate'], t), 'gripper': _Schedule(2.0, t)}

    def _run(self) -> None:
        try:
            self._loop()
        except (RenderError, RuntimeError, ValueError) as e:
            self.get_logger().error(f'physics thread stopped: {e}')
            raise
        finally:
            with self._lock:
                self._sim.close()
            if self._viewer is not None:
                self._viewer.close()

    def _loop(self) -> None:
        sim = self._sim
        if self._params['viewer']:
            self._open_viewer()
        schedules = self._schedules()
        wall0, sim0 = time.monotonic(), sim.time
        while not self._stop.is_set():
            if self._rate_changed.is_set():
                self._rate_changed.clear()
                schedules = self._schedules()
                wall0, sim0 = time.monotonic(), sim.time
            rtf = self._params['real_time_factor']
            with self._lock:
                resting = self._rest.resting
                self._apply_cmd()  # a moving command wakes a resting robot
                odom = sim.odometry()
                if self._rest.update(sim.time, odom.v, odom.w) != resting:
                    for stream, schedule in schedules.items():
                        if stream in _REST_STREAMS:
                            schedule.set_rate(self._rate(stream), sim.time)
                target = min(s.next for s in schedules.values())
                steps = max(1, math.ceil((target - sim.time) / sim.timestep - 1e-6))
                sim.step(steps)
                lag = time.monotonic() - wall0 - (sim.time - sim0) / rtf if rtf > 0 else None
                self._publish_due(schedules, lag)
            if self._viewer is not None:
                self._sync_viewer()
            if rtf > 0:
                ahead = wall0 + (sim.time - sim0) / rtf - time.monotonic()
                if ahead > 0:
                    self._stop.wait(ahead)
                elif ahead < -MAX_LAG:
                    wall0, sim0 = time.monotonic(), sim.time  # slower than real time: no burst

    def _publish_due(self, schedules: dict[str, _Schedule], lag: float | None = None) -> None:
        sim, t = self._sim, self._sim.time
        if schedules['clock'].due(t) and self._params['publish_clock']:
            _set_stamp(self._clock_msg.clock, t)
            self._pub_clock.publish(self._clock_msg)
        if schedules['odom'].due(t):
            self._publish_odom(t)
        if schedules['scan'].due(t):
            self._publish_scan()
        if schedules['camera'].due(t) and self._params['enable_camera']:
            self._publish_camera(t, lag)
        if schedules['truth'].due(t):
            self._publish_truth()
        g = sim.gripper()
        # On change at once (a grasp waits for 'holding'), else as a 2 Hz heartbeat.
        if schedules['gripper'].due(t) or (g.suction_on, g.holding) != self._gripper_sent:
            self._publish_gripper(g.suction_on, g.holding, t)
        if len(sim.events) > self._events_seen:
            for event in sim.events[self._events_seen:]:
                self.get_logger().info(f'sim t={t:.2f}: {event}')
            self._events_seen = len(sim.events)

    def _publish_odom(self, t: float) -> None:
        # Messages are built once and updated in place: these are the 50 Hz hot path.
        odom = self._sim.odometry()
        msg, joints = self._odom_msg, self._joints_msg
        _set_stamp(msg.header.stamp, t)
        msg.pose.pose.position.x, msg.pose.pose.position.y = odom.x, odom.y
        msg.pose.pose.orientation.z = math.sin(odom.theta / 2)
        msg.pose.pose.orientation.w = math.cos(odom.theta / 2)
        msg.twist.twist.linear.x, msg.twist.twist.angular.z = odom.v, odom.w
        self._pub_odom.publish(msg)
        if self._odom_tf is not None:
            self._odom_tf.send((odom.x, odom.y, odom.theta), msg.header.stamp)
        (pos_l, pos_r), (vel_l, vel_r) = self._sim.wheel_state()
        _set_stamp(joints.header.stamp, t)
        joints.position = [pos_l, pos_r]
        joints.velocity = [vel_l, vel_r]
        self._pub_joints.publish(joints)

    def _publish_scan(self) -> None:
        scan = self._sim.lidar_scan()
        msg = LaserScan()
        msg.header.stamp = stamp(scan.stamp)
        msg.header.frame_id = LASER_FRAME
        msg.angle_min, msg.angle_max = scan.angle_min, scan.angle_max
        msg.angle_increment = scan.angle_increment
        msg.scan_time = 1.0 / self._params['scan_rate']
        msg.time_increment = 0.0
        msg.range_min, msg.range_max = scan.range_min, scan.range_max
        msg.ranges = scan.ranges.tolist()
        self._pub_scan.publish(msg)

    def _publish_camera(self, t: float, lag: float | None = None) -> None:
        width, height = self._params['camera_width'], self._params['camera_height']
        header_stamp = stamp(t)
        wants_rgb = self._pub_image.get_subscription_count() > 0
        wants_depth = self._pub_depth.get_subscription_count() > 0
        if not (wants_rgb or wants_depth) or self._render_failed:
            self._pub_info.publish(self._camera_info(width, height, header_stamp))
            return
        throttle = self.camera_throttle
        began = time.monotonic()
        if not throttle.should_render(began, lag):
            self._report_camera(began)
            return  # degraded: this frame is skipped so the safety streams keep their rate
        self._pub_info.publish(self._camera_info(width, height, header_stamp))
        try:
            rgb, depth = self._sim.render_rgbd(width, height)
            throttle.done(began, time.monotonic())
        except RenderError as e:
            self._render_failed = True
            self.get_logger().error(f'camera disabled: {e}')
            return
        if wants_rgb:
            self._pub_image.publish(_image(rgb.tobytes(), width, height, 'rgb8', 3 * width,
                                           header_stamp))
        if wants_depth:
            self._pub_depth.publish(_image(depth.tobytes(), width, height, '32FC1', 4 * width,
                                           header_stamp))

    def _report_camera(self, wall_now: float) -> None:
        since, skipped = self._camera_reported
        if wall_now - since >= CAMERA_REPORT_PERIOD:
            n = self.camera_throttle.skipped - skipped
            self.get_logger().info(
                f'camera degraded under load: skipped {n} frames in the last '
                f'{wall_now - since:.0f} s (render {1e3 * self.camera_throttle.cost:.0f} ms/frame)'
                '; /clock, /odom and /scan keep their rates')
            self._camera_reported = (wall_now, self.camera_throttle.skipped)

    def _camera_info(self, width: int, height: int, header_stamp: Time) -> CameraInfo:
        fx, fy, cx, cy = self._sim.camera_intrinsics(width, height)
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

    def _publish_truth(self) -> None:
        truth = self._sim.ground_truth()
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

    def _publish_gripper(self, suction_on: bool, holding: bool, t: float) -> None:
        self._gripper_sent = (suction_on, holding)
        msg = GripperState()
        msg.header.stamp = stamp(t)
        msg.header.frame_id = BASE_FRAME
        msg.suction_on, msg.holding = suction_on, holding
        self._pub_gripper.publish(msg)

    # --- viewer ---------------------------------------------------------------------------------
    def _open_viewer(self) -> None:
        if not os.environ.get('DISPLAY') and not os.environ.get('WAYLAND_DISPLAY'):
            self.get_logger().warning('viewer requested but no display: running headless')
            return
        try:
            import mujoco.viewer
            self._viewer = mujoco.viewer.launch_passive(self._sim.model, self._sim.data)
        except (ImportError, RuntimeError) as e:
            self.get_logger().warning(f'viewer unavailable ({e}): running headless')

    def _sync_viewer(self) -> None:
        if not self._viewer.is_running():
            self._viewer = None
            return
        with self._lock:
            self._viewer.sync()

    # --- lifecycle ------------------------------------------------------------------------------
    @property
    def sim(self) -> WarehouseSim:
        """The simulator (lock with ``locked()`` before touching it from another thread)."""
        return self._sim

    def locked(self, fn: Callable[[WarehouseSim], Any]) -> Any:
        """Run ``fn(sim)`` while the physics thread is paused between steps."""
        with self._lock:
            return fn(self._sim)

    def destroy_node(self) -> None:
        """Stop the physics thread, then destroy the node."""
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5.0)
        super().destroy_node()


def _set_stamp(msg: Time, t: float) -> None:
    sec = math.floor(t)
    msg.sec, msg.nanosec = int(sec), min(999_999_999, round((t - sec) * 1e9))


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


def _overrides(argv: list[str]) -> tuple[list[Parameter], list[str]]:
    parser = argparse.ArgumentParser(
        prog='codeact-robot sim', allow_abbrev=False,
        description='Run the embedded warehouse simulator.',
        epilog='All parameters (config/sim.yaml): --ros-args -p name:=value or '
               '--ros-args --params-file config/sim.yaml')
    parser.add_argument('--world', help='world name or path')
    parser.add_argument('--scenario', help='scenario name or path (e.g. blocked_aisle_2)')
    parser.add_argument('--seed', type=int, help='random seed (default: the scenario\'s)')
    parser.add_argument('--rtf', '--real-time-factor', type=float, dest='real_time_factor',
                        help='real-time factor, 0 = as fast as possible')
    parser.add_argument('--no-camera', action='store_true', help='do not publish camera topics')
    parser.add_argument('--viewer', action='store_true', help='open a viewer window')
    parser.add_argument('--view', action='store_true',
                        help='also serve the live view to the Foxglove app (view_node, '
                             'ws://127.0.0.1:8765)')
    if argv[:1] == ['--']:  # `codeact-robot sim -- --scenario x` passes the separator on
        argv = argv[1:]
    args, rest = parser.parse_known_args(argv)
    overrides = [Parameter(name, value=getattr(args, name))
                 for name in ('world', 'scenario', 'seed', 'real_time_factor')
                 if getattr(args, name) is not None]
    if args.no_camera:
        overrides.append(Parameter('enable_camera', value=False))
    if args.viewer:
        overrides.append(Parameter('viewer', value=True))
    if args.view:
        rest = ['--view', *rest]  # for main(): not a simulator parameter
    return overrides, rest


def main(argv: list[str] | None = None) -> None:
    """Run the simulator node until Ctrl-C (``codeact-robot sim`` and ``sim_node``)."""
    import sys

    from codeact_robot.ros_env import remove_stale_shared_memory

    argv = sys.argv[1:] if argv is None else list(argv)
    overrides, ros_args = _overrides(argv)
    view = ros_args[:1] == ['--view']
    ros_args = ros_args[1:] if view else ros_args
    remove_stale_shared_memory()
    # The default context: rclpy's SIGINT handler shuts it down and ends spin().
    rclpy.init(args=['sim_node', *ros_args])
    more = []
    if view:
        from codeact_robot.nodes.view_node import ViewNode

        world = [p for p in overrides if p.name == 'world']
        more.append(lambda: ViewNode(parameter_overrides=world))
    spin_until_shutdown(lambda: SimNode(parameter_overrides=overrides), 2, *more)


if __name__ == '__main__':
    main()
