"""`navigation: nav2`: the skills node hands move_to goals to a NavigateToPose server and passes
the server's velocity commands through its safety layer.

The server here is a test double for Nav2 (no Nav2 can be installed in this environment): a
small NavigateToPose action server that drives straight at the goal, too fast on purpose, then
turns to the goal heading, publishing on ``cmd_vel_nav`` as a remapped Nav2 controller would.
Everything else is real: rclpy over DDS, MuJoCo, the skills node and its safety layer.
"""

from __future__ import annotations

import math
import threading
import time

import pytest
from geometry_msgs.msg import PoseStamped, Twist
from nav2_msgs.action import NavigateToPose
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from ros_observer import SPEED_LIMIT, Observer
from std_msgs.msg import Bool

from codeact_robot.api.errors import EStopActiveError
from codeact_robot.nav.geometry import yaw_from_quaternion
from codeact_robot.nodes.bringup import start_embedded
from codeact_robot.nodes.runner import NodeRunner, wait_for
from codeact_robot.world import load_world
from codeact_robot_interfaces.action import MoveTo

pytestmark = pytest.mark.ros
WORLD = load_world('warehouse')


class Nav2LikeServer:
    """Test double for Nav2's bt_navigator + controller: NavigateToPose over a straight line."""

    def __init__(self, runner: NodeRunner, speed: float = 1.0) -> None:
        self.node = runner.add(Node('nav2_like_server', context=runner.context))
        self.speed = speed
        self.goals: list[tuple[float, float, float]] = []
        self.cancels = 0
        self.lock = threading.Lock()
        self.pose: tuple[float, float, float] | None = None
        group = ReentrantCallbackGroup()
        self.node.create_subscription(PoseStamped, 'skills/pose', self._on_pose, 10,
                                      callback_group=group)
        self.cmd = self.node.create_publisher(Twist, 'cmd_vel_nav', 10)
        ActionServer(self.node, NavigateToPose, 'navigate_to_pose', self._execute,
                     goal_callback=lambda _goal: GoalResponse.ACCEPT,
                     cancel_callback=self._on_cancel, callback_group=group)

    def _on_pose(self, msg: PoseStamped) -> None:
        q = msg.pose.orientation
        with self.lock:
            self.pose = (msg.pose.position.x, msg.pose.position.y,
                         yaw_from_quaternion(q.x, q.y, q.z, q.w))

    def _on_cancel(self, _handle: object) -> CancelResponse:
        self.cancels += 1
        return CancelResponse.ACCEPT

    def _command(self, goal: tuple[float, float, float]) -> Twist | None:
        """The next command towards ``goal``, or None when there."""
        with self.lock:
            x, y, th = self.pose
        msg = Twist()
        if math.dist((x, y), goal[:2]) > 0.04:
            heading = math.remainder(math.atan2(goal[1] - y, goal[0] - x) - th, 2 * math.pi)
            msg.linear.x = self.speed if abs(heading) < 0.3 else 0.0
        else:
            heading = math.remainder(goal[2] - th, 2 * math.pi)
            if abs(heading) < 0.03:
                return None
        msg.angular.z = max(-1.0, min(1.0, 2.0 * heading))
        return msg

    def _execute(self, handle):  # noqa: ANN001, ANN202 - rclpy's callback signature
        p = handle.request.pose.pose
        goal = (p.position.x, p.position.y, yaw_from_quaternion(
            p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w))
        self.goals.append(goal)
        result = NavigateToPose.Result()
        deadline = time.monotonic() + 120.0
        while time.monotonic() < deadline:
            if handle.is_cancel_requested:
                self.cmd.publish(Twist())
                handle.canceled()
                return result
            command = self._command(goal)
            if command is None:
                self.cmd.publish(Twist())
                handle.succeed()
                return result
            self.cmd.publish(command)
            time.sleep(0.05)
        result.error_code, result.error_msg = NavigateToPose.Result.TIMEOUT, 'timed out'
        handle.abort()
        return result


@pytest.fixture
def nav2_stack():
    stack = start_embedded(scenario='default', real_time_factor=2.0,
                           sim_params={'enable_camera': False},
                           skills_params={'navigation': 'nav2'})
    try:
        observer = Observer(stack)
        server = Nav2LikeServer(stack.runner)
        wait_for(lambda: server.pose is not None, 10.0, 'the server to see the pose')
        yield stack, observer, server
    finally:
        stack.close()


def test_go_to_drives_through_the_nav2_server_within_the_safety_limits(nav2_stack):
    stack, observer, server = nav2_stack
    place = WORLD.places['shelf B']
    result = stack.api.go_to('shelf B')
    assert result.arrived, result.message
    assert len(server.goals) == 1
    assert server.goals[0] == pytest.approx((place.x, place.y, place.theta), abs=1e-6)
    observer.wait_at_rest()
    x, y, _ = observer.robot()
    assert math.dist((x, y), (place.x, place.y)) < 0.15
    # The server asked for 1 m/s; the safety layer let no more than the limit through.
    assert observer.max_speed <= SPEED_LIMIT * 1.05, observer.max_speed
    assert all(abs(v) <= SPEED_LIMIT + 1e-6 for _, v, _ in observer.cmds)


def test_a_keep_out_goal_is_refused_before_the_server_sees_it(nav2_stack):
    _, observer, server = nav2_stack
    zone = WORLD.keep_out[0].rect
    result = observer.send_raw(observer.move_to, MoveTo.Goal(
        x=(zone.xmin + zone.xmax) / 2, y=(zone.ymin + zone.ymax) / 2))
    assert result.status == MoveTo.Result.REFUSED and 'keep-out' in result.message, result
    assert server.goals == []


def test_an_estop_during_a_nav2_goal_stops_the_robot_and_cancels_the_goal(nav2_stack):
    stack, observer, server = nav2_stack
    box: dict[str, object] = {}

    def drive() -> None:
        try:
            box['result'] = stack.api.move_to(9.5, 4.0)
        except Exception as e:  # noqa: BLE001 - the test reads what the API raised
            box['error'] = e

    thread = threading.Thread(target=drive, daemon=True)
    thread.start()
    wait_for(lambda: server.goals and observer.robot()[0] > 2.0, 60.0, 'the robot driving')
    observer.estop_pub.publish(Bool(data=True))
    thread.join(30.0)
    assert not thread.is_alive()
    assert isinstance(box.get('error'), EStopActiveError), box
    wait_for(lambda: server.cancels == 1, 10.0, 'the goal to be canceled')
    observer.wait_at_rest(timeout=10.0)
    assert observer.robot()[0] < 9.0, 'the robot drove on after the e-stop'
