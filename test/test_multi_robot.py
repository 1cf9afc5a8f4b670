"""Two namespaced robots in one simulated warehouse, each with its own skills node and agent.

One simulator node carries both robots (``robots``/``robot_poses``): each robot's topics under
its namespace and its frames on ``<namespace>/tf``; each skills node and API client runs in its
namespace with ``/tf`` remapped into it (Nav2's multi-robot convention). Two CodeAct agents
(replay backend) run one command each at the same time; ground truth says where each robot
ended.
"""

import math
import threading
import time

import pytest
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy

from codeact_robot.agent import AgentConfig, CodeActAgent
from codeact_robot.llm import ReplayBackend
from codeact_robot.nodes.bringup import start_fleet
from codeact_robot.nodes.runner import wait_for
from codeact_robot.world import load_world
from codeact_robot_interfaces.msg import GroundTruth

pytestmark = [pytest.mark.ros, pytest.mark.slow]

WORLD = load_world('warehouse')
ROBOTS = {'robot1': (1.2, 4.0, 0.0), 'robot2': (10.3, 1.6, math.pi / 2)}
COMMANDS = {'robot1': ('go to the charging dock', 'charging dock'),
            'robot2': ('go to the packing station', 'packing station')}


def fence(code: str) -> str:
    return f'```python\n{code}\n```'


def test_two_namespaced_robots_complete_one_command_each_concurrently(tmp_path):
    with start_fleet(ROBOTS, real_time_factor=2.0) as fleet:
        truth: dict[str, GroundTruth] = {}
        tracks: dict[str, list[tuple[float, float, float]]] = {name: [] for name in ROBOTS}

        def on_truth(name: str, msg: GroundTruth) -> None:
            truth[name] = msg
            stamp = msg.header.stamp.sec + 1e-9 * msg.header.stamp.nanosec
            tracks[name].append((stamp, msg.robot.x, msg.robot.y))
        observer = fleet.runner.add(Node('fleet_observer', context=fleet.runner.context))
        for name in ROBOTS:
            observer.create_subscription(
                GroundTruth, f'{name}/sim/ground_truth',
                lambda msg, name=name: on_truth(name, msg),
                QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))
        wait_for(lambda: len(truth) == 2, 30.0, 'both robots\' ground truth')
        # Each robot believes it is where the simulator put it (its own skills node).
        for name, (x, y, _) in ROBOTS.items():
            pose = fleet.robots[name].api.get_pose()
            assert math.dist((pose.x, pose.y), (x, y)) < 0.1, (name, pose)
        results = {}

        def run(name: str) -> None:
            command, place = COMMANDS[name]
            llm = ReplayBackend([fence(f'r = go_to("{place}")\nprint(r.message)'),
                                 fence(f'done("at the {place}")')])
            agent = CodeActAgent(llm=llm, robot=fleet.robots[name].api, world=WORLD,
                                 config=AgentConfig(max_turns=3),
                                 runs_dir=tmp_path / name)
            try:
                results[name] = agent.run(command)
            finally:
                agent.close()
        threads = [threading.Thread(target=run, args=(name,)) for name in ROBOTS]
        began = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=240)
        seconds = time.monotonic() - began
        time.sleep(0.5)  # the last ground truth after both stopped
        final = dict(truth)
    assert set(results) == set(ROBOTS), f'an agent did not finish in {seconds:.0f} s'
    for name, result in results.items():
        assert result.success, (name, result.failure_reason)
        place = WORLD.places[COMMANDS[name][1]]
        robot = final[name].robot
        assert math.dist((robot.x, robot.y), (place.x, place.y)) < 0.3, (name, robot, place)
    # Concurrently: the simulated time spans in which each robot was under way overlap.
    under_way = {}
    for name, track in tracks.items():
        x0, y0 = ROBOTS[name][:2]
        end = final[name].robot
        moving = [t for t, x, y in track if math.dist((x, y), (x0, y0)) > 0.3
                  and math.dist((x, y), (end.x, end.y)) > 0.3]
        assert moving, f'{name} never seen under way'
        under_way[name] = (min(moving), max(moving))
    (a0, a1), (b0, b1) = under_way.values()
    assert max(a0, b0) < min(a1, b1), (under_way, f'{seconds:.0f} s')
