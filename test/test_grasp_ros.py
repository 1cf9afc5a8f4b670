"""Perceive, grasp, carry and release over real rclpy against the embedded simulator.

The RosRobotApi client calls the skills node (/skills/perceive, /skills/grasp), which runs the
PerceptionSkill on the camera topics and the GraspSkill through its safety layer. The test reads
/sim/ground_truth only to check the answers.
"""

from __future__ import annotations

import math
import threading

import pytest
from rclpy.node import Node

from codeact_robot.api.errors import InvalidArgumentError, NotFoundError
from codeact_robot.nodes.bringup import start_embedded
from codeact_robot.nodes.runner import wait_for
from codeact_robot.world import load_world
from codeact_robot_interfaces.msg import GroundTruth

pytestmark = [pytest.mark.ros, pytest.mark.slow]

WORLD = load_world()
SPEED_LIMIT = 0.5


class Truth:
    """Latest /sim/ground_truth and the largest true speed seen (test side only)."""

    def __init__(self, stack) -> None:
        self.node = stack.runner.add(Node('test_grasp_truth', context=stack.runner.context))
        self.lock = threading.Lock()
        self.msg: GroundTruth | None = None
        self.max_speed = 0.0
        self._last: tuple[float, float, float] | None = None
        self.node.create_subscription(GroundTruth, '/sim/ground_truth', self._on_truth, 50)
        wait_for(lambda: self.msg is not None, 10.0, 'ground truth')

    def _on_truth(self, msg: GroundTruth) -> None:
        t = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        with self.lock:
            if self._last is not None and t - self._last[0] > 1e-6:
                speed = math.dist((msg.robot.x, msg.robot.y), self._last[1:]) / (t - self._last[0])
                self.max_speed = max(self.max_speed, speed)
            self._last = (t, msg.robot.x, msg.robot.y)
            self.msg = msg

    def box(self, name: str) -> tuple[float, float, float]:
        with self.lock:
            msg = self.msg
        p = msg.poses[list(msg.names).index(name)].position
        return p.x, p.y, p.z

    def held(self) -> str:
        with self.lock:
            return self.msg.held


@pytest.fixture(scope='module')
def stack():
    s = start_embedded(scenario='default', real_time_factor=1.0)
    truth = Truth(s)
    s.extra['truth'] = truth
    yield s
    s.close()
    print(f'max ground-truth speed in test_grasp_ros: {truth.max_speed:.3f} m/s')
    assert truth.max_speed <= SPEED_LIMIT * 1.05


def test_perceive_from_shelf_b_finds_the_red_box_and_its_marker(stack):
    api, truth = stack.api, stack.extra['truth']
    assert api.go_to('shelf B').arrived
    detections = api.perceive()
    red = [d for d in detections if d.label == 'red box']
    assert len(red) == 1, detections
    bx, by, _ = truth.box('red box')
    error = math.hypot(red[0].x - bx, red[0].y - by)
    print(f'perceive from shelf B: red box map error {error:.3f} m, marker {red[0].marker_id}')
    assert error < 0.15
    assert red[0].marker_id == WORLD.box('red box').marker_id
    assert detections == sorted(detections, key=lambda d: d.distance)


def test_grasp_errors_tell_the_model_what_to_do(stack):
    api = stack.api
    assert api.go_to('shelf B').arrived
    with pytest.raises(NotFoundError, match='go_to the shelf'):
        api.grasp('purple')
    with pytest.raises(InvalidArgumentError, match='colour'):
        api.grasp('pink')
    assert not api.holding()


def test_grasp_carry_release_delivers_the_red_box(stack):
    api, truth = stack.api, stack.extra['truth']
    assert api.go_to('shelf B').arrived
    assert api.grasp('red box') is True
    wait_for(lambda: truth.held() == 'red box', 5.0, 'ground truth to show the held box')
    assert api.holding()
    assert api.go_to('packing station').arrived
    api.release()
    wait_for(lambda: not api.holding(), 5.0, 'the gripper to report released')
    zone = next(s.drop_zone for s in WORLD.stations if s.name == 'packing station')

    def settled_in_zone() -> bool:
        x, y, z = truth.box('red box')
        return zone.contains(x, y, margin=0.1) and z < WORLD.box('red box').size / 2 + 0.02

    wait_for(lambda: truth.held() == '', 5.0, 'ground truth to show nothing held')
    wait_for(settled_in_zone, 5.0, 'the red box to rest on the floor in the drop zone')
