"""RosRobotApi: the robot API as a thin, synchronous client of the skills node.

Every call is a bounded wait on a future that the executor spinning ``node`` completes (this
class never spins). Arguments are pre-checked for clearer messages; the skills node checks them
again and is the one place that enforces limits. Nothing here reads /sim/ground_truth.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from geometry_msgs.msg import Pose2D, PoseStamped
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile
from rclpy.task import Future
from std_msgs.msg import String
from std_srvs.srv import Trigger

from codeact_robot.api.errors import (
    EStopActiveError,
    GraspError,
    InvalidArgumentError,
    NotFoundError,
    RobotApiError,
    RobotNotReadyError,
    SafetyStopError,
)
from codeact_robot.api.robot_api import RobotApi
from codeact_robot.api.types import (
    MOTION_STATUS_OF_CODE,
    Detection,
    MoveResult,
    Place,
    Pose,
    Route,
)
from codeact_robot.nav.geometry import yaw_from_quaternion
from codeact_robot.nodes.action_client import ActionClient
from codeact_robot.safety.validation import (
    check_names,
    check_number,
    check_optional_number,
    check_text,
)
from codeact_robot.world import World, load_world
from codeact_robot_interfaces.action import Drive, Grasp, MoveTo
from codeact_robot_interfaces.msg import GripperState
from codeact_robot_interfaces.srv import Perceive, PlanRoute

_LOG = logging.getLogger(__name__)

# Generous bounds for argument pre-checks; the skills node applies the configured limits.
_COORD = 1e4


#: How long perceive() waits for the first camera image (the node subscribes on demand).
CAMERA_WAKE_SECONDS = 15.0
#: How long holding() waits for the first gripper state after start-up.
GRIPPER_WAIT_SECONDS = 3.0
#: Wall seconds between heartbeats while a goal runs (the node's ``client_timeout`` is longer).
HEARTBEAT_PERIOD = 0.25


class RosRobotApi(RobotApi):
    """Implement RobotApi over the skills node's actions, services and topics.

    Args:
        node: A node that some executor spins (e.g. a NodeRunner); only used, never spun here.
        world: The World (or its name) for locations() and zone names.
        skills_ns: Namespace of the skills node's interfaces.
        gripper_state_topic: Where the gripper reports whether it holds something.
        call_timeout: Bound of service calls and goal acceptance (s).
        motion_timeout: Bound of one motion or grasp (s); the goal is canceled after it.
        pose_timeout: Age at which the last pose counts as stale (s).
    """

    def __init__(self, node: Node, world: World | str = 'warehouse', *,
                 skills_ns: str = 'skills', gripper_state_topic: str = 'gripper/state',
                 call_timeout: float = 30.0, motion_timeout: float = 300.0,
                 pose_timeout: float = 2.0) -> None:
        self._node = node
        self.world = load_world(world) if isinstance(world, str) else world
        self.call_timeout = call_timeout
        self.motion_timeout = motion_timeout
        self.pose_timeout = pose_timeout
        self._lock = threading.Lock()
        self._goals: dict[int, Any] = {}
        self._pose: Pose | None = None
        self._pose_time = -math.inf
        self._gripper: GripperState | None = None
        ns = skills_ns.rstrip('/')
        group = ReentrantCallbackGroup()
        self._move = ActionClient(node, MoveTo, f'{ns}/move_to', callback_group=group)
        self._drive = ActionClient(node, Drive, f'{ns}/drive', callback_group=group)
        self._grasp = ActionClient(node, Grasp, f'{ns}/grasp', callback_group=group)
        self._perceive = node.create_client(Perceive, f'{ns}/perceive', callback_group=group)
        self._plan = node.create_client(PlanRoute, f'{ns}/plan_route', callback_group=group)
        self._release = node.create_client(Trigger, f'{ns}/release', callback_group=group)
        self._stop = node.create_client(Trigger, f'{ns}/stop', callback_group=group)
        self._stop_pub = node.create_publisher(String, f'{ns}/stop_request', 10)
        self._say_pub = node.create_publisher(String, 'say', 10)
        self._heartbeat_pub = node.create_publisher(String, f'{ns}/client_heartbeat', 10)
        node.create_subscription(PoseStamped, f'{ns}/pose', self._on_pose, 10,
                                 callback_group=group)
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        node.create_subscription(GripperState, gripper_state_topic, self._on_gripper, latched,
                                 callback_group=group)

    # -- plumbing -----------------------------------------------------------------------------

    def _on_pose(self, msg: PoseStamped) -> None:
        q = msg.pose.orientation
        self._pose = Pose(msg.pose.position.x, msg.pose.position.y,
                          yaw_from_quaternion(q.x, q.y, q.z, q.w))
        self._pose_time = time.monotonic()

    def _on_gripper(self, msg: GripperState) -> None:
        self._gripper = msg

    def wait_until_ready(self, timeout: float = 30.0) -> None:
        """Block until the skills node's servers are up and a pose has arrived (bounded)."""
        deadline = time.monotonic() + timeout
        for client in (self._move, self._drive, self._grasp):
            if not client.wait_for_server(timeout_sec=max(0.1, deadline - time.monotonic())):
                raise RobotNotReadyError('the skills node is not running (no action server); '
                                         'start it and try again')
        for client in (self._perceive, self._plan, self._release, self._stop):
            if not client.wait_for_service(timeout_sec=max(0.1, deadline - time.monotonic())):
                raise RobotNotReadyError(f'the skills node service {client.srv_name} is not up')
        while self._pose is None:
            if time.monotonic() > deadline:
                raise RobotNotReadyError('no robot pose yet: is odometry being published?')
            time.sleep(0.02)

    def skills_alive(self, timeout: float) -> bool:
        """Return True once a running skills node publishes the robot pose (bounded wait).

        Unlike server discovery, this cannot be fooled by stale graph entries of a node that
        has just gone away.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() - self._pose_time > 0.5:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def _wait(self, future: Future, timeout: float, what: str,
              heartbeat: String | None = None) -> Any:
        """Wait for ``future`` (bounded); meanwhile publish ``heartbeat`` if given.

        The heartbeat tells the skills node that someone still waits for the goal: if this
        process dies, the node stops the robot instead of finishing a motion nobody follows.
        """
        done = threading.Event()
        future.add_done_callback(lambda _f: done.set())
        deadline = time.monotonic() + timeout
        while heartbeat is not None and not done.is_set() and time.monotonic() < deadline:
            self._heartbeat_pub.publish(heartbeat)
            done.wait(HEARTBEAT_PERIOD)
        if not done.wait(max(0.0, deadline - time.monotonic())):
            raise RobotNotReadyError(f'{what} did not answer within {timeout:.0f} s; the skills '
                                     'node may be down or busy')
        if future.exception() is not None:
            raise RobotNotReadyError(f'{what} failed: {future.exception()}')
        return future.result()

    def _call(self, client: Any, request: Any, what: str) -> Any:
        if not client.wait_for_service(timeout_sec=self.call_timeout):
            raise RobotNotReadyError(f'{what} is not available: is the skills node running?')
        return self._wait(client.call_async(request), self.call_timeout, what)

    def _run_goal(self, client: ActionClient, goal: Any, what: str,
                  feedback: Callable[[Any], None] | None = None) -> Any:
        if not client.wait_for_server(timeout_sec=self.call_timeout):
            raise RobotNotReadyError(f'{what} is not available: is the skills node running?')
        handle = self._wait(client.send_goal_async(goal, feedback_callback=feedback),
                            self.call_timeout, what)
        if not handle.accepted:
            raise RobotNotReadyError(f'{what} goal was not accepted')
        with self._lock:
            self._goals[id(handle)] = handle
        try:
            response = self._wait(handle.get_result_async(), self.motion_timeout, what,
                                  heartbeat=String(data=bytes(handle.goal_id.uuid).hex()))
        except (RobotNotReadyError, KeyboardInterrupt):
            handle.cancel_goal_async()
            raise
        finally:
            with self._lock:
                self._goals.pop(id(handle), None)
        return response.result

    @staticmethod
    def _motion_status(code: int, message: str) -> str:
        """Return a MoveTo/Drive result code's status; raise for those that are errors."""
        status = MOTION_STATUS_OF_CODE.get(code, 'safety_stop')
        if status == 'invalid':
            raise InvalidArgumentError(message)
        if status == 'estop':
            raise EStopActiveError(message)
        if status == 'refused':
            raise SafetyStopError(f'the safety layer refused the motion: {message}; choose a '
                                  'goal inside the warehouse and away from keep-out zones')
        return status

    def _zones(self) -> list[str]:
        return [a.name for a in self.world.aisles] + [z.name for z in self.world.keep_out]

    def _move_result(self, status: str, message: str, pose: Pose2D,
                     blocked_at: tuple[float, float] | None = None,
                     blocked_aisle: str | None = None,
                     obstacle_distance: float | None = None) -> MoveResult:
        return MoveResult(status=status, message=message, pose=Pose(pose.x, pose.y, pose.theta),
                          blocked_at=blocked_at, blocked_aisle=blocked_aisle,
                          obstacle_distance=obstacle_distance)

    # -- the API ------------------------------------------------------------------------------

    def get_pose(self) -> Pose:
        """Return the latest pose from the skills node's ``pose`` topic; stale raises.

        The contract (what the model reads) is RobotApi.get_pose. A missing or stale pose is
        waited for up to ``pose_timeout`` first: a client just started, or a busy machine,
        has not read the newest message yet.
        """
        deadline = time.monotonic() + self.pose_timeout
        while (pose := self._pose) is None or time.monotonic() - self._pose_time > \
                self.pose_timeout:
            if time.monotonic() > deadline:
                raise RobotNotReadyError('the robot pose is not available (no fresh odometry); '
                                         'wait a moment and try again')
            time.sleep(0.02)
        return pose

    def locations(self) -> dict[str, Place]:
        """Return the places of the world description this client was given.

        The contract (what the model reads) is RobotApi.locations.
        """
        return dict(self.world.places)

    def move_to(self, x: float, y: float, theta: float | None = None,
                speed: float | None = None, avoid: list[str] | None = None) -> MoveResult:
        """Validate, then run a ``MoveTo`` goal on the skills node until it ends.

        The contract (what the model reads) is RobotApi.move_to.
        """
        goal = MoveTo.Goal(
            x=check_number('x', x, -_COORD, _COORD), y=check_number('y', y, -_COORD, _COORD),
            theta=check_optional_number('theta', theta, -2 * math.pi, 2 * math.pi) or 0.0,
            use_theta=theta is not None,
            speed=check_optional_number('speed', speed, 0.01, 10.0) or 0.0,
            avoid=check_names('avoid', avoid, self._zones()))
        res = self._run_goal(self._move, goal, 'move_to')
        status = self._motion_status(res.status, res.message)
        blocked = status == 'blocked'
        return self._move_result(
            status, res.message, res.final_pose,
            (res.blocked_at.x, res.blocked_at.y) if blocked else None,
            (res.blocked_aisle or None) if blocked else None,
            res.obstacle_distance if blocked else None)

    def stock_list(self) -> dict[str, str]:
        """Return where the world description stores each box (the prompt's stock list)."""
        return {b.name: b.location for b in self.world.boxes}

    def keep_out_zones(self) -> list[str]:
        """Return the world's keep-out zones."""
        return [z.name for z in self.world.keep_out]

    def _drive_goal(self, distance: float, angle: float, speed: float | None) -> MoveResult:
        goal = Drive.Goal(distance=distance, angle=angle, speed=speed or 0.0)
        res = self._run_goal(self._drive, goal, 'move' if distance else 'turn')
        status = self._motion_status(res.status, res.message)
        blocked = status == 'blocked'
        pose = res.final_pose
        return self._move_result(
            status, res.message, pose,
            (pose.x, pose.y) if blocked else None,
            self.world.aisle_at(pose.x, pose.y) if blocked else None,
            res.obstacle_distance if blocked else None)

    def move(self, distance: float, speed: float | None = None) -> MoveResult:
        """Validate, then run a straight ``Drive`` goal.

        The contract (what the model reads) is RobotApi.move.
        """
        d = check_number('distance', distance, -_COORD, _COORD)
        s = check_optional_number('speed', speed, 0.01, 10.0)
        if d == 0.0:
            raise InvalidArgumentError('distance is 0; give a non-zero distance in metres')
        return self._drive_goal(d, 0.0, s)

    def turn(self, angle: float) -> MoveResult:
        """Validate, then run an in-place ``Drive`` goal.

        The contract (what the model reads) is RobotApi.turn.
        """
        a = check_number('angle', angle, -_COORD, _COORD, ' (radians)')
        return self._drive_goal(0.0, a, None)

    def stop(self) -> None:
        """Cancel this client's goals, then call the ``stop`` service.

        The contract (what the model reads) is RobotApi.stop.
        """
        self._cancel_goals()
        res = self._call(self._stop, Trigger.Request(), 'stop')
        if not res.success:
            raise RobotNotReadyError(f'stop failed: {res.message}')

    def _cancel_goals(self) -> None:
        with self._lock:
            goals = list(self._goals.values())
        for handle in goals:
            handle.cancel_goal_async()

    def emergency_stop(self, reason: str) -> None:
        """Trusted side only (never exposed to the model): cancel all motion, zero velocity.

        Never blocks: safe from any thread, including executor callbacks and signal handlers.
        """
        self._halts = self.halt_count() + 1  # a task skill running on another thread stops
        _LOG.warning('emergency stop: %s', reason)
        self._stop_pub.publish(String(data=str(reason)))
        self._cancel_goals()
        if self._stop.service_is_ready():
            self._stop.call_async(Trigger.Request())

    def plan_route(self, x: float, y: float, avoid: list[str] | None = None) -> Route:
        """Call the ``plan_route`` service (plans only, never moves).

        The contract (what the model reads) is RobotApi.plan_route.
        """
        req = PlanRoute.Request(x=check_number('x', x, -_COORD, _COORD),
                                y=check_number('y', y, -_COORD, _COORD),
                                avoid=check_names('avoid', avoid, self._zones()))
        res = self._call(self._plan, req, 'plan_route')
        if res.status == PlanRoute.Response.INVALID:
            raise InvalidArgumentError(res.message)
        message = res.message
        if res.status == PlanRoute.Response.REFUSED:
            message = f'the safety layer refused the route: {message}'
        return Route(ok=bool(res.success), message=message, length=float(res.length),
                     waypoints=[(p.x, p.y) for p in res.waypoints], aisles=list(res.aisles),
                     blocked_aisles=list(res.blocked_aisles))

    def blocked_aisles(self) -> list[str]:
        """Ask ``plan_route`` at the current pose which aisles it knows are blocked.

        The contract (what the model reads) is RobotApi.blocked_aisles.
        """
        pose = self.get_pose()
        res = self._call(self._plan, PlanRoute.Request(x=pose.x, y=pose.y), 'blocked_aisles')
        return list(res.blocked_aisles)

    def perceive(self) -> list[Detection]:
        """Call the ``perceive`` service (the skills node reads the RGB-D camera).

        The contract (what the model reads) is RobotApi.perceive.
        """
        # The skills node subscribes to the camera on demand: the first call after a quiet
        # spell can come before the first image, so wait that out (bounded) here.
        deadline = time.monotonic() + CAMERA_WAKE_SECONDS
        res = self._call(self._perceive, Perceive.Request(), 'perceive')
        while not res.success and time.monotonic() < deadline:
            time.sleep(0.25)
            res = self._call(self._perceive, Perceive.Request(), 'perceive')
        if not res.success:
            raise RobotNotReadyError(res.message)
        return [Detection(label=d.label, color=d.color,
                          marker_id=None if d.marker_id < 0 else int(d.marker_id),
                          x=d.position.x, y=d.position.y, distance=d.distance,
                          bearing=d.bearing, confidence=d.confidence) for d in res.detections]

    def grasp(self, target: str) -> bool:
        """Validate, then run a ``Grasp`` goal (approach, suction, lift check).

        The contract (what the model reads) is RobotApi.grasp.
        """
        if isinstance(target, int) and not isinstance(target, bool):
            target = f'marker {target}'
        check_text('target', target)
        res = self._run_goal(self._grasp, Grasp.Goal(target=target), 'grasp')
        if res.status == Grasp.Result.HELD:
            return True
        if res.status == Grasp.Result.NOT_FOUND:
            raise NotFoundError(res.message)
        if res.status == Grasp.Result.INVALID:
            raise InvalidArgumentError(res.message)
        if res.status == Grasp.Result.ESTOP:
            raise EStopActiveError(res.message)
        if res.status == Grasp.Result.SAFETY_STOP:
            raise SafetyStopError(res.message)
        if res.status == Grasp.Result.CANCELED:
            raise RobotApiError(f'grasp canceled: {res.message}')
        raise GraspError(res.message)

    def release(self) -> None:
        """Call the ``release`` service (suction off).

        The contract (what the model reads) is RobotApi.release.
        """
        res = self._call(self._release, Trigger.Request(), 'release')
        if not res.success:
            raise RobotNotReadyError(f'release failed: {res.message}')

    def holding(self) -> bool:
        """Return the latest gripper state; before the first one, raise.

        The contract (what the model reads) is RobotApi.holding.
        """
        # Right after start-up the first gripper state may still be on its way: wait a little.
        deadline = time.monotonic() + GRIPPER_WAIT_SECONDS
        while self._gripper is None and time.monotonic() < deadline:
            time.sleep(0.05)
        state = self._gripper
        if state is None:
            raise RobotNotReadyError('no gripper state received yet; wait a moment')
        return bool(state.holding)

    def wait(self, seconds: float) -> None:
        """Sleep here; the skills node keeps the robot stopped meanwhile.

        The contract (what the model reads) is RobotApi.wait.
        """
        time.sleep(check_number('seconds', seconds, 0.0, 30.0))

    def say(self, text: str) -> None:
        """Publish the text on the ``say`` topic and log it.

        The contract (what the model reads) is RobotApi.say.
        """
        check_text('text', text, 1000)
        self._say_pub.publish(String(data=text))
        _LOG.info('say: %s', text)
