"""A test-side observer of the running robot stack, shared by the ROS integration tests.

It records every /cmd_vel message, the ground-truth speed, /safety/events and /diagnostics, so
tests can assert what was (never) published. Tests may read ground truth; the robot may not.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import Twist
from rclpy.node import Node
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from codeact_robot.nodes.action_client import ActionClient
from codeact_robot.nodes.bringup import RobotStack
from codeact_robot.nodes.runner import wait_for
from codeact_robot_interfaces.action import Drive, MoveTo
from codeact_robot_interfaces.msg import GroundTruth, SafetyEvent

#: The skills node's default linear speed limit (config/sim.yaml) the tests check against.
SPEED_LIMIT = 0.5
#: Seconds of simulated time of ground truth kept to judge whether something is at rest.
REST_HISTORY = 3.0


class Observer:
    """Record what the robot stack publishes (test side only; it may read ground truth)."""

    def __init__(self, stack: RobotStack) -> None:
        self.node = stack.runner.add(Node('test_observer', context=stack.runner.context))
        self.lock = threading.Lock()
        self.cmds: list[tuple[float, float, float]] = []
        self.events: list[SafetyEvent] = []
        self.diagnostics: list[DiagnosticArray] = []
        self.truth: GroundTruth | None = None
        self.max_speed = 0.0
        self._last: tuple[float, float, float] | None = None
        # (sim time, ground truth) over the last few seconds: what 'at rest' is judged on
        self._recent: deque[tuple[float, GroundTruth]] = deque()
        n = self.node
        n.create_subscription(Twist, '/cmd_vel', self._on_cmd, 100)
        n.create_subscription(SafetyEvent, '/safety/events', self.events.append, 100)
        n.create_subscription(DiagnosticArray, '/diagnostics', self.diagnostics.append, 10)
        n.create_subscription(GroundTruth, '/sim/ground_truth', self._on_truth, 50)
        self.estop_pub = n.create_publisher(Bool, '/estop', 10)
        self.estop_reset = n.create_client(Trigger, '/estop/reset')
        self.drive = ActionClient(n, Drive, '/skills/drive')
        self.move_to = ActionClient(n, MoveTo, '/skills/move_to')
        wait_for(lambda: self.truth is not None, 10.0, 'ground truth')

    def _on_cmd(self, msg: Twist) -> None:
        with self.lock:
            self.cmds.append((time.monotonic(), msg.linear.x, msg.angular.z))

    def _on_truth(self, msg: GroundTruth) -> None:
        t = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        # Speed over >= 0.2 s of sim time (as the evaluation's max_speed predicate): over a
        # single physics step, contact jitter of a millimetre reads as several cm/s.
        if self._last is None or t - self._last[0] >= 0.2:
            if self._last is not None:
                speed = math.dist((msg.robot.x, msg.robot.y), self._last[1:]) / (t - self._last[0])
                self.max_speed = max(self.max_speed, speed)
            self._last = (t, msg.robot.x, msg.robot.y)
        with self.lock:
            self._recent.append((t, msg))
            while self._recent and t - self._recent[0][0] > REST_HISTORY:
                self._recent.popleft()
        self.truth = msg

    def robot(self) -> tuple[float, float, float]:
        """Return the true robot pose."""
        r = self.truth.robot
        return r.x, r.y, r.theta

    def object_xy(self, name: str) -> tuple[float, float]:
        """Return the true position of a box or obstacle."""
        msg = self.truth
        p = msg.poses[list(msg.names).index(name)].position
        return p.x, p.y

    def _xy(self, msg: GroundTruth, name: str | None) -> tuple[float, float]:
        if name is None:
            return msg.robot.x, msg.robot.y
        p = msg.poses[list(msg.names).index(name)].position
        return p.x, p.y

    def at_rest(self, name: str | None = None, window: float = 0.5,
                tolerance: float = 0.003) -> bool:
        """Whether the robot (or box ``name``) moved less than ``tolerance`` m over the last
        ``window`` s of simulated time, by ground truth."""
        with self.lock:
            samples = list(self._recent)
        if not samples or samples[-1][0] - samples[0][0] < window:
            return False
        end = samples[-1][0]
        here = self._xy(samples[-1][1], name)
        return all(math.dist(self._xy(m, name), here) < tolerance
                   for t, m in samples if end - t <= window)

    def wait_at_rest(self, name: str | None = None, timeout: float = 10.0) -> None:
        """Wait (bounded, in wall time) until the robot or a box has come to rest."""
        wait_for(lambda: self.at_rest(name), timeout,
                 f'the {name or "robot"} to come to rest (ground truth)')

    def cmds_since(self, t: float) -> list[tuple[float, float, float]]:
        """Return the /cmd_vel messages received after monotonic time t."""
        with self.lock:
            return [c for c in self.cmds if c[0] >= t]

    def events_since(self, n: int) -> list[SafetyEvent]:
        """Return the safety events after the first n."""
        return list(self.events[n:])

    def reset_estop(self, timeout: float = 5.0) -> Trigger.Response:
        """Call /estop/reset once and return its response."""
        assert self.estop_reset.wait_for_service(timeout_sec=timeout)
        done = threading.Event()
        fut = self.estop_reset.call_async(Trigger.Request())
        fut.add_done_callback(lambda _f: done.set())
        assert done.wait(timeout), '/estop/reset did not answer'
        return fut.result()

    def release_and_reset_estop(self, timeout: float = 10.0) -> None:
        """Release the e-stop button, then reset the latch (as a person would).

        The release travels on /estop and the reset on a service, so the reset is repeated
        until the node has seen the release (it refuses while the button is pressed).
        """
        self.estop_pub.publish(Bool(data=False))
        wait_for(lambda: self.reset_estop().success, timeout, 'the e-stop reset')

    def send_raw(self, client: ActionClient, goal: object, timeout: float = 20.0) -> object:
        """Send an action goal directly (bypassing the API facade); return its result."""
        assert client.wait_for_server(timeout_sec=10.0)
        done = threading.Event()
        fut = client.send_goal_async(goal)
        fut.add_done_callback(lambda _f: done.set())
        assert done.wait(timeout)
        handle = fut.result()
        assert handle.accepted
        done.clear()
        res = handle.get_result_async()
        res.add_done_callback(lambda _f: done.set())
        assert done.wait(timeout)
        return res.result().result

