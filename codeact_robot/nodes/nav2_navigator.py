"""Nav2's NavigateToPose as the skills controller's external navigator (``navigation: nav2``).

Goals go to the ``NavigateToPose`` action server as PoseStamped in ``map``; Nav2's velocity
commands come back on ``nav2_cmd_vel_topic`` (remap the controller server's or the velocity
smoother's output there) and pass the skills node's safety layer before they reach the base.
Nothing here blocks the control loop: goals and cancels are sent asynchronously and their
answers recorded by callbacks.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

from geometry_msgs.msg import Twist
from rclpy.callback_groups import CallbackGroup
from rclpy.node import Node

from codeact_robot.nodes.action_client import ActionClient
from codeact_robot.skills.delegated import ABORTED, NAV_CANCELED, REJECTED, SUCCEEDED
from codeact_robot.world.frames import MAP_FRAME

# action_msgs/GoalStatus codes of a finished goal
_ENDED = {4: SUCCEEDED, 5: NAV_CANCELED, 6: ABORTED}


class NavigatorUnavailableError(RuntimeError):
    """``navigation: nav2`` was asked for where no nav2_msgs package is installed."""


class Nav2Navigator:
    """The controller's ``NavigatorPort`` over a NavigateToPose action client."""

    def __init__(self, node: Node, action_name: str, cmd_topic: str, clock: Callable[[], float],
                 group: CallbackGroup) -> None:
        try:
            from nav2_msgs.action import NavigateToPose
        except ImportError as e:
            raise NavigatorUnavailableError(
                'navigation: nav2 needs the nav2_msgs package (a ROS 2 distribution with Nav2, '
                'or `make setup`, which builds its NavigateToPose action)') from e
        self._goal_type = NavigateToPose.Goal
        self._node = node
        self._clock = clock
        self._lock = threading.Lock()
        self._client = ActionClient(node, NavigateToPose, action_name, callback_group=group)
        node.create_subscription(Twist, cmd_topic, self._on_cmd, 10, callback_group=group)
        self._command: tuple[float, float, float] | None = None
        self._handle: Any = None
        self._ended: tuple[str, str] | None = None
        self._cancel_wanted = False

    def _on_cmd(self, msg: Twist) -> None:
        with self._lock:
            self._command = (self._clock(), float(msg.linear.x), float(msg.angular.z))

    def ready(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the action server."""
        return bool(self._client.wait_for_server(timeout_sec=timeout))

    def start(self, x: float, y: float, theta: float | None) -> None:
        """Send the goal (map frame) without waiting; the answer arrives in callbacks."""
        goal = self._goal_type()
        goal.pose.header.frame_id = MAP_FRAME
        goal.pose.header.stamp = self._node.get_clock().now().to_msg()
        goal.pose.pose.position.x, goal.pose.pose.position.y = float(x), float(y)
        yaw = 0.0 if theta is None else float(theta)
        goal.pose.pose.orientation.z = math.sin(yaw / 2)
        goal.pose.pose.orientation.w = math.cos(yaw / 2)
        with self._lock:
            self._handle, self._ended, self._command = None, None, None
            self._cancel_wanted = False
        self._client.send_goal_async(goal).add_done_callback(self._on_accepted)

    def _on_accepted(self, future: Any) -> None:
        handle = future.result()
        with self._lock:
            if handle is None or not handle.accepted:
                self._ended = (REJECTED, 'goal not accepted')
                return
            self._handle = handle
            cancel = self._cancel_wanted
        if cancel:
            handle.cancel_goal_async()
        handle.get_result_async().add_done_callback(self._on_result)

    def _on_result(self, future: Any) -> None:
        response = future.result()
        status = _ENDED.get(getattr(response, 'status', 0), ABORTED)
        message = ''
        if response is not None and status != SUCCEEDED:
            result = response.result
            message = f'error {result.error_code}: {result.error_msg}'.rstrip(': ')
        with self._lock:
            self._ended = (status, message)

    def result(self) -> tuple[str, str] | None:
        """Return how the goal ended, or None while it runs."""
        with self._lock:
            return self._ended

    def command(self) -> tuple[float, float, float] | None:
        """Return (time received, v, w) of Nav2's latest velocity command."""
        with self._lock:
            return self._command

    def cancel(self) -> None:
        """Cancel the goal without waiting (once it is accepted, if it is not yet)."""
        with self._lock:
            handle, self._cancel_wanted = self._handle, True
            self._command = None
        if handle is not None:
            handle.cancel_goal_async()


def navigator_from_parameters(node: Node, clock: Callable[[], float],
                              group: CallbackGroup) -> Nav2Navigator | None:
    """Return the navigator the skills node's ``navigation`` parameter asks for, or None.

    Raises:
        ValueError: ``navigation`` is neither 'internal' nor 'nav2'.
        NavigatorUnavailableError: 'nav2' without the nav2_msgs package.
    """
    mode = node.get_parameter('navigation').value
    if mode == 'internal':
        return None
    if mode != 'nav2':
        raise ValueError(f"navigation must be 'internal' or 'nav2', not {mode!r}")
    return Nav2Navigator(node, node.get_parameter('nav2_action').value,
                         node.get_parameter('nav2_cmd_vel_topic').value, clock, group)
