"""The skills node: motion and manipulation skills as ROS 2 actions, behind the safety layer.

It is the only publisher on the base's velocity topic. Everything it decides is the ROS-free
``skills.controller.SkillsController`` (goal validation, planning or delegation to Nav2, the
control step through the safety layer, the stall watchdog, the e-stop latch); this node converts
messages, runs the control timer and a watchdog thread, and serves (relative names, so a
namespace moves them) actions skills/{move_to,drive,grasp}; services skills/{perceive,
plan_route,release,stop}, estop/reset; topics estop, skills/stop_request, skills/client_heartbeat
(in), skills/pose (PoseStamped in map), /tf (map -> odom), safety/events, /diagnostics (out).
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point as PointMsg
from geometry_msgs.msg import Pose2D
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import SetParametersResult
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, qos_profile_sensor_data
from sensor_msgs.msg import LaserScan
from std_msgs.msg import Bool, String
from std_srvs.srv import SetBool, Trigger

from codeact_robot.api.types import MOTION_STATUS_CODES, Pose
from codeact_robot.nav.geometry import Pose2, yaw_from_quaternion
from codeact_robot.nodes.camera_input import CameraInput, stamp_seconds
from codeact_robot.nodes.nav2_navigator import navigator_from_parameters
from codeact_robot.nodes.ros_log import log_at, log_graph
from codeact_robot.nodes.runner import spin_until_shutdown, take_waiting
from codeact_robot.nodes.skills_parameters import (
    MOTION_SETTINGS,
    declare_skills_parameters,
    navigator_options,
)
from codeact_robot.nodes.tf_frames import MapPose, MapRoute
from codeact_robot.nodes.velocity_command import VelocityCommand
from codeact_robot.ros_env import remove_stale_shared_memory
from codeact_robot.safety.limits import LIMIT_SPECS, SafetyLimits, check_limit
from codeact_robot.skills import motion
from codeact_robot.skills.controller import (
    ActiveMotion,
    MotionSettings,
    SkillsController,
)
from codeact_robot.skills.grasp import GraspStatus
from codeact_robot.skills.navigator import Navigator
from codeact_robot.world import World, load_world
from codeact_robot_interfaces.action import Drive, Grasp, MoveTo
from codeact_robot_interfaces.msg import Detection as DetectionMsg
from codeact_robot_interfaces.msg import GripperState, SafetyEvent
from codeact_robot_interfaces.srv import Perceive, PlanRoute

_DIAGNOSTIC_LEVEL = {'ok': DiagnosticStatus.OK, 'warn': DiagnosticStatus.WARN,
                     'error': DiagnosticStatus.ERROR}


def _pose2d(pose: Pose2 | None, missing: float = math.nan) -> Pose2D:
    p = pose or (missing, missing, missing)
    return Pose2D(x=float(p[0]), y=float(p[1]), theta=float(p[2]))


def _token(goal_handle: Any) -> str:
    """Return the goal's token in client heartbeats: its goal ID in hex."""
    return bytes(goal_handle.goal_id.uuid).hex()


class SkillsNode(Node):
    """Serve MoveTo, Drive, Grasp, Perceive, PlanRoute; enforce the safety limits."""

    def __init__(self, world: World | None = None, **kwargs: object) -> None:
        super().__init__('skills_node', **kwargs)
        declare_skills_parameters(self)
        self.world = world or load_world(self.get_parameter('world').value)
        p = self.get_parameter
        # Stale inputs the control loop found newer messages for (_catch_up), by input.
        self.caught_up = {'odom': 0, 'scan': 0}
        self._watch_stop = threading.Event()
        self.nav = Navigator(self.world, **navigator_options(self))
        period = 1.0 / float(p('control_rate').value)
        settings = MotionSettings(control_period=period,
                                  **{k: float(p(k).value) for k in MOTION_SETTINGS})
        self._io = ReentrantCallbackGroup()
        self.controller = SkillsController(
            self.nav, SafetyLimits(**{k: float(p(k).value) for k in LIMIT_SPECS}), self._now,
            self, settings, sim_time=bool(p('use_sim_time').value),
            estop_state_file=p('estop_state_file').value or None,
            navigator=navigator_from_parameters(self, self._now, self._io))
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._declare_interfaces(period)
        self.camera = CameraInput(
            self, (p('image_topic').value, p('depth_topic').value, p('camera_info_topic').value),
            self.nav, self.controller.data_stamp, self.controller.safe_clock.now,
            p('camera_sync_tolerance').value, self._io,
            keep_on=lambda: self.controller.skill == 'grasp')
        self.get_logger().info(
            f'skills node ready: world {self.world.name!r}, initial pose {self.nav.initial}, '
            f'limits {self.controller.limits}')
        log_graph(self)

    # -- setup ------------------------------------------------------------------------------

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        limits, settings = {}, {}
        for param in params:
            if param.name in LIMIT_SPECS:
                try:
                    limits[param.name] = check_limit(param.name, param.value)
                except ValueError as e:
                    return SetParametersResult(successful=False, reason=str(e))
            elif param.name in MOTION_SETTINGS:
                settings[param.name] = float(param.value)
            elif param.name == 'use_sim_time':
                self.controller.sim_time = bool(param.value)
        if limits:
            try:
                self.controller.set_limits(**limits)
            except ValueError as e:
                return SetParametersResult(successful=False, reason=str(e))
            self.get_logger().info(f'safety limits changed: {limits}')
        if settings:
            self.controller.set_settings(**settings)
        return SetParametersResult(successful=True)

    def _declare_interfaces(self, period: float) -> None:
        p = self.get_parameter
        io = self._io
        self._cmd = VelocityCommand(self, p('cmd_vel_topic').value, p('cmd_vel_stamped').value)
        self._event_pub = self.create_publisher(SafetyEvent, 'safety/events', 50)
        self._diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._pose_out = MapPose(self, 'skills/pose', p('publish_map_to_odom').value)
        self.controller.on_route = MapRoute(self, 'plan').send
        # Depth 1: a busy executor takes the newest odometry and scan, not a backlog of old
        # ones (at 50 Hz, depth 20 left every pose the controller used 0.4 s old under load).
        self._odom_sub = self.create_subscription(Odometry, p('odom_topic').value,
                                                  self._on_odom, QoSProfile(depth=1),
                                                  callback_group=io)
        latest_scan = QoSProfile(depth=1, reliability=qos_profile_sensor_data.reliability)
        self._scan_sub = self.create_subscription(LaserScan, p('scan_topic').value,
                                                  self._on_scan, latest_scan, callback_group=io)
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        self.create_subscription(GripperState, p('gripper_state_topic').value, self._on_gripper,
                                 latched, callback_group=io)
        ctl = self.controller
        # Volatile for any publisher, and transient-local for a button driver that latches its
        # state: a skills node started after the button was pressed must not drive.
        for qos in (QoSProfile(depth=10), latched):
            self.create_subscription(Bool, p('estop_topic').value, lambda msg: ctl.estop_input(
                bool(msg.data), 'operator'), qos, callback_group=io)
        self.create_subscription(String, 'skills/stop_request', lambda msg: ctl.request_stop(
            msg.data or 'stop requested', 'watchdog'), 10, callback_group=io)
        self.create_subscription(String, 'skills/client_heartbeat', lambda msg:
                                 ctl.client_heartbeat(msg.data), 10, callback_group=io)
        self._gripper_client = self.create_client(SetBool, p('gripper_set_service').value,
                                                  callback_group=io)
        for kind, name, serve in ((Trigger, 'skills/stop', self._srv_stop),
                                  (Trigger, 'estop/reset', self._srv_estop_reset),
                                  (Trigger, 'skills/release', self._srv_release),
                                  (Perceive, 'skills/perceive', self._srv_perceive),
                                  (PlanRoute, 'skills/plan_route', self._srv_plan_route)):
            self.create_service(kind, name, serve, callback_group=io)
        for action, name, execute in ((MoveTo, 'skills/move_to', self._execute_move_to),
                                      (Drive, 'skills/drive', self._execute_drive),
                                      (Grasp, 'skills/grasp', self._execute_grasp)):
            # Every goal is accepted so that refusals reach the caller as a result with a
            # message; every cancel request is accepted.
            ActionServer(self, action, name, execute, callback_group=io,
                         goal_callback=lambda _goal: GoalResponse.ACCEPT,
                         cancel_callback=lambda _handle: CancelResponse.ACCEPT)
        self.create_timer(period, self._tick, callback_group=MutuallyExclusiveCallbackGroup())
        # The watchdog is a thread, not a timer: the executor's threads can all be blocked in
        # motions, perception polling or gripper calls exactly when the loop is late.
        self._watch_thread = threading.Thread(target=self._watch_loop, args=(period,),
                                              name='skills-watchdog', daemon=True)
        self._watch_thread.start()
        self.create_timer(1.0, self._publish_diagnostics, callback_group=io)

    # -- the controller's ports ---------------------------------------------------------------

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def publish_cmd(self, linear: float, angular: float) -> None:
        """Publish a velocity command (the only /cmd_vel publisher)."""
        self._cmd.send(linear, angular)

    def emit_event(self, kind: str, reason: str, source: str) -> None:
        """Publish a /safety/events message and log it."""
        msg = SafetyEvent(kind=kind, reason=reason, source=source)
        msg.stamp = self.get_clock().now().to_msg()
        self._event_pub.publish(msg)
        self.get_logger().warning(f'safety [{kind}] ({source}): {reason}')

    def log(self, level: str, message: str) -> None:
        """Log a controller line at its level."""
        log_at(self.get_logger(), level, message)

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

    def latest_rgbd(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, Pose] | None:
        """Return a fresh camera frame with the map pose at its capture (CameraInput)."""
        return self.camera.latest_rgbd()

    # -- sensors ------------------------------------------------------------------------------

    def _on_odom(self, msg: Odometry) -> None:
        q = msg.pose.pose.orientation
        taken = self.controller.update_odom(
            stamp_seconds(msg.header.stamp),
            (msg.pose.pose.position.x, msg.pose.pose.position.y,
             yaw_from_quaternion(q.x, q.y, q.z, q.w)),
            (msg.twist.twist.linear.x, msg.twist.twist.angular.z))
        if taken and (pose := self.nav.map_pose()) is not None:
            self._pose_out.send(pose, self.nav.odom_pose, msg.header.stamp)

    def _on_scan(self, msg: LaserScan) -> None:
        self.controller.update_scan(stamp_seconds(msg.header.stamp), msg.ranges,
                                    msg.angle_min, msg.angle_increment, msg.range_min,
                                    msg.range_max)

    def _on_gripper(self, msg: GripperState) -> None:
        self.controller.holding = self.nav.holding = bool(msg.holding)

    # -- stop, e-stop -------------------------------------------------------------------------

    def _srv_stop(self, request: Trigger.Request, response: Trigger.Response
                  ) -> Trigger.Response:
        self.controller.request_stop('stop requested via /skills/stop', 'operator')
        response.success = True
        response.message = 'stopped'
        return response

    def _srv_estop_reset(self, request: Trigger.Request, response: Trigger.Response
                         ) -> Trigger.Response:
        response.success, response.message = self.controller.reset_estop('operator')
        return response

    # -- control loop -------------------------------------------------------------------------

    def _tick(self) -> None:
        self.controller.tick(before_step=self._catch_up)

    def _watch_loop(self, period: float) -> None:
        while not self._watch_stop.wait(period):
            try:
                self.controller.watch_once()
            except Exception as e:  # noqa: BLE001 - the watchdog must outlive any one check
                self.get_logger().error(f'watchdog check failed: {type(e).__name__}: {e}')
                self.publish_cmd(0.0, 0.0)

    def _catch_up(self) -> None:
        """Read odometry or a scan still waiting in the middleware when the stored one is stale.

        Under CPU load this cycle can run while the sensor callbacks of the same process still
        wait for an executor worker: the sensor published, the node has not read it yet. Taking
        the waiting message here judges the sensor, not the executor's backlog (false stops in
        evaluation runs, issue 12). A sensor that stopped publishing leaves nothing to take, so
        a real dropout still stops the robot at the same limit.
        """
        for name in self.controller.stale_inputs():
            sub, handler = ((self._odom_sub, self._on_odom) if name == 'odom'
                            else (self._scan_sub, self._on_scan))
            msg = take_waiting(sub)
            if msg is not None:
                handler(msg)
                self.caught_up[name] += 1
                self.get_logger().info(
                    f'{name} was stale in the control loop while a newer message waited: read '
                    'it there (the executor is behind, the sensor is not)',
                    throttle_duration_sec=5.0)

    # -- services and actions -------------------------------------------------------------------

    def _srv_plan_route(self, request: PlanRoute.Request, response: PlanRoute.Response
                        ) -> PlanRoute.Response:
        status, message, plan, blocked = self.controller.plan_route(request.x, request.y,
                                                                    list(request.avoid))
        response.status = 0 if plan is not None else MOTION_STATUS_CODES[status]
        response.blocked_aisles = blocked
        response.message = message
        response.success = plan is not None
        if plan is not None:
            response.length = float(plan.length)
            response.waypoints = [PointMsg(x=float(px), y=float(py)) for px, py in plan.waypoints]
            response.aisles = self.nav.route_aisles(plan.waypoints)
        return response

    def _execute_move_to(self, goal_handle: Any) -> MoveTo.Result:
        goal = goal_handle.request

        def feedback(active: ActiveMotion) -> None:
            goal_handle.publish_feedback(MoveTo.Feedback(
                pose=_pose2d(self.nav.map_pose(), 0.0), phase=active.phase,
                distance_remaining=float(min(active.distance_remaining, 1e6))))

        outcome = self.controller.run_goal('move_to', lambda: self.controller.move_to(
            goal.x, goal.y, goal.theta if goal.use_theta else None, goal.speed, list(goal.avoid),
            lambda: goal_handle.is_cancel_requested, feedback), client=_token(goal_handle))
        result = MoveTo.Result(status=MOTION_STATUS_CODES[outcome.status],
                               message=outcome.message,
                               final_pose=_pose2d(self.nav.map_pose()),
                               blocked_aisle=outcome.blocked_aisle or '',
                               obstacle_distance=float(outcome.obstacle_distance or 0.0))
        if outcome.blocked_at is not None:
            result.blocked_at = PointMsg(x=float(outcome.blocked_at[0]),
                                         y=float(outcome.blocked_at[1]))
        self._end_goal(goal_handle, outcome.status == motion.CANCELED,
                       outcome.status == motion.ARRIVED, f'{outcome.status}: {outcome.message}')
        return result

    def _execute_drive(self, goal_handle: Any) -> Drive.Result:
        goal = goal_handle.request

        def feedback(active: ActiveMotion) -> None:
            goal_handle.publish_feedback(Drive.Feedback(
                pose=_pose2d(self.nav.map_pose(), 0.0),
                distance_remaining=float(min(active.distance_remaining, 1e6)),
                angle_remaining=float(active.angle_remaining)))

        outcome = self.controller.run_goal('drive', lambda: self.controller.drive(
            goal.distance, goal.angle, goal.speed, should_cancel=lambda:
            goal_handle.is_cancel_requested, feedback=feedback), client=_token(goal_handle))
        result = Drive.Result(status=MOTION_STATUS_CODES[outcome.status],
                              message=outcome.message,
                              final_pose=_pose2d(self.nav.map_pose()),
                              obstacle_distance=float(outcome.obstacle_distance or 0.0))
        self._end_goal(goal_handle, outcome.status == motion.CANCELED,
                       outcome.status == motion.ARRIVED, f'{outcome.status}: {outcome.message}')
        return result

    def _execute_grasp(self, goal_handle: Any) -> Grasp.Result:
        target = str(goal_handle.request.target)

        def feedback(phase: str, distance: float) -> None:
            goal_handle.publish_feedback(Grasp.Feedback(phase=phase, distance=float(distance)))

        outcome = self.controller.run_goal('grasp', lambda: self.controller.grasp(
            target, lambda: goal_handle.is_cancel_requested, feedback),
            lambda message: None, _token(goal_handle))
        if outcome is None:
            result = Grasp.Result(status=Grasp.Result.INVALID, holding=self.controller.holding,
                                  message=f'busy with {self.controller.skill}; stop() first')
        else:
            result = Grasp.Result(status=int(outcome.status), message=outcome.message,
                                  holding=outcome.holding)
        self._end_goal(goal_handle, result.status == GraspStatus.CANCELED,
                       result.status == GraspStatus.HELD,
                       f'grasp {target!r}: {result.status} {result.message}')
        return result

    def _end_goal(self, goal_handle: Any, canceled: bool, succeeded: bool, what: str) -> None:
        self.get_logger().info(f'goal ended: {what}')
        if canceled and goal_handle.is_cancel_requested:
            goal_handle.canceled()
        elif succeeded:
            goal_handle.succeed()
        else:
            goal_handle.abort()

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
        detections = self.controller.perception.detect(*frame)
        response.success = True
        response.message = f'{len(detections)} detections'
        response.detections = [DetectionMsg(
            label=d.label, color=d.color, marker_id=-1 if d.marker_id is None else d.marker_id,
            position=PointMsg(x=float(d.x), y=float(d.y)), distance=float(d.distance),
            bearing=float(d.bearing), confidence=float(d.confidence)) for d in detections]
        return response

    # -- diagnostics ----------------------------------------------------------------------------

    def _check_cmd_vel_publishers(self) -> None:
        """Tell the controller which other nodes publish on our velocity command topic."""
        if self.get_parameter('exclusive_cmd_vel').value:
            me = (self.get_name(), self.get_namespace())
            self.controller.set_foreign_commanders([
                f'{i.node_namespace.rstrip("/")}/{i.node_name}'
                for i in self.get_publishers_info_by_topic(self._cmd.topic_name)
                if (i.node_name, i.node_namespace) != me])

    def _publish_diagnostics(self) -> None:
        self._check_cmd_vel_publishers()
        ctl = self.controller
        level, message, values = ctl.status()
        values['caught_up'] = ', '.join(f'{k}: {n}' for k, n in sorted(self.caught_up.items()))
        values.update({k: f'{getattr(ctl.limits, k):g}' for k in LIMIT_SPECS})
        status = DiagnosticStatus(level=_DIAGNOSTIC_LEVEL[level],
                                  name='codeact_robot: skills', message=message,
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


def main(args: list[str] | None = None) -> None:
    """Run the skills node until interrupted."""
    remove_stale_shared_memory()
    rclpy.init(args=args)
    spin_until_shutdown(SkillsNode, num_threads=4)


if __name__ == '__main__':
    main()
