"""The task skills on the real stack: fetch two boxes to one station, look at a shelf.

Real rclpy nodes over DDS, the MuJoCo simulator and the skills node's safety layer; the skills
run on the client (RosRobotApi) exactly as the model's code calls them. Ground truth is read only
to check the outcome.
"""

from __future__ import annotations

import threading

import pytest
from rclpy.node import Node

from codeact_robot.nodes.bringup import start_embedded
from codeact_robot.nodes.runner import wait_for
from codeact_robot.world import load_world
from codeact_robot_interfaces.msg import GroundTruth

pytestmark = [pytest.mark.ros, pytest.mark.slow]

WORLD = load_world()


class Truth:
    """The latest /sim/ground_truth (test side only)."""

    def __init__(self, stack) -> None:
        self.node = stack.runner.add(Node('test_task_skills_truth', context=stack.runner.context))
        self.lock = threading.Lock()
        self.msg: GroundTruth | None = None
        self.node.create_subscription(GroundTruth, '/sim/ground_truth', self._on_truth, 10)
        wait_for(lambda: self.msg is not None, 10.0, 'ground truth')

    def _on_truth(self, msg: GroundTruth) -> None:
        with self.lock:
            self.msg = msg

    def box(self, name: str) -> tuple[float, float]:
        with self.lock:
            msg = self.msg
        p = msg.poses[list(msg.names).index(name)].position
        return p.x, p.y


def in_drop_zone(xy: tuple[float, float]) -> bool:
    station = next(s for s in WORLD.stations if s.name == 'packing station')
    zone = station.drop_zone
    return zone.xmin <= xy[0] <= zone.xmax and zone.ymin <= xy[1] <= zone.ymax


def test_two_boxes_fetched_to_one_station_both_land_in_its_drop_zone():
    # Three times real time: the skills run on the simulator's clock; the camera renders on
    # demand.
    stack = start_embedded(scenario='default', real_time_factor=3.0)
    try:
        truth = Truth(stack)
        api = stack.api
        first = api.fetch('green', 'packing station')
        second = api.fetch('orange box', 'packing station')
        print(first, second, truth.box('green box'), truth.box('orange box'))
        assert first.startswith('delivered the green box to the packing station')
        assert second.startswith('delivered the orange box to the packing station')
        wait_for(lambda: in_drop_zone(truth.box('orange box')), 5.0, 'the orange box to settle')
        assert in_drop_zone(truth.box('green box')) and in_drop_zone(truth.box('orange box'))
        assert not api.holding()
        seen = api.look('shelf A')  # the shelf is empty now: nothing green or orange left
        assert not [d for d in seen if d.color in ('green', 'orange')], seen
    finally:
        stack.close()
