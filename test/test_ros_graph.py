"""The robot on one ROS graph as a ROS user meets it: frames on /tf and /tf_static that compose
to where the robot really is, nodes started apart (as ``ros2 launch`` starts them) that find
each other on the graph the environment names, a TwistStamped base, a latched e-stop button and
start-up parameters that cannot be changed behind the node's back.

Real rclpy over DDS and real MuJoCo; ground truth is read by the test only.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from geometry_msgs.msg import PoseStamped, TransformStamped, TwistStamped
from nav_msgs.msg import Odometry
from node_processes import start_module, stop_process
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import LaserScan
from std_msgs.msg import Bool
from tf2_msgs.msg import TFMessage

from codeact_robot.api.errors import EStopActiveError
from codeact_robot.nodes.action_client import ActionClient
from codeact_robot.nodes.agent_node import ACTION_NAME
from codeact_robot.nodes.bringup import start_embedded
from codeact_robot.nodes.runner import NodeRunner, wait_for
from codeact_robot.nodes.tf_frames import TF_QOS, TF_STATIC_QOS
from codeact_robot.world import load_world
from codeact_robot.world.frames import (
    BASE_FRAME,
    CAMERA_OPTICAL_FRAME,
    LASER_FRAME,
    MAP_FRAME,
    ODOM_FRAME,
)
from codeact_robot_interfaces.action import ExecuteCommand
from codeact_robot_interfaces.msg import GroundTruth

pytestmark = pytest.mark.ros
WORLD = load_world('warehouse')


def matrix(t: TransformStamped) -> np.ndarray:
    """The 4x4 homogeneous matrix of a transform (child pose in the parent frame)."""
    q, p = t.transform.rotation, t.transform.translation
    w, x, y, z = q.w, q.x, q.y, q.z
    m = np.eye(4)
    m[:3, :3] = [[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                 [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                 [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]]
    m[:3, 3] = [p.x, p.y, p.z]
    return m


class TfTree:
    """The newest transform to each child frame from /tf and /tf_static, as tf2 keeps them."""

    def __init__(self, node: Node) -> None:
        self.lock = threading.Lock()
        self.latest: dict[str, TransformStamped] = {}
        self.static: set[str] = set()
        node.create_subscription(TFMessage, '/tf', self._on_tf, TF_QOS)
        node.create_subscription(TFMessage, '/tf_static', lambda m: self._on_tf(m, True),
                                 TF_STATIC_QOS)

    def _on_tf(self, msg: TFMessage, static: bool = False) -> None:
        with self.lock:
            for t in msg.transforms:
                self.latest[t.child_frame_id] = t
                if static:
                    self.static.add(t.child_frame_id)

    def chain(self, frame: str) -> tuple[list[str], np.ndarray]:
        """Return the frames from ``frame`` up to its root and ``frame``'s pose in the root."""
        names, pose = [frame], np.eye(4)
        with self.lock:
            while (t := self.latest.get(names[-1])) is not None:
                pose = matrix(t) @ pose
                names.append(t.header.frame_id)
                assert len(names) < 10, f'a loop in the tree: {names}'
        return names, pose


def test_tf_forms_one_tree_from_map_to_the_sensors_that_matches_ground_truth():
    from ros_observer import Observer

    stack = start_embedded(scenario='default', real_time_factor=2.0,
                           sim_params={'enable_camera': False})
    try:
        observer = Observer(stack)
        tree = TfTree(observer.node)
        poses: list[PoseStamped] = []
        observer.node.create_subscription(PoseStamped, '/skills/pose', poses.append, 10)
        # Drive and turn first, so that odom and map differ from base_link and from each other.
        assert stack.api.move(1.0).arrived
        assert stack.api.turn(0.8).arrived
        observer.wait_at_rest()
        wait_for(lambda: {BASE_FRAME, ODOM_FRAME, LASER_FRAME, CAMERA_OPTICAL_FRAME}
                 <= set(tree.latest), 10.0, 'every frame on /tf and /tf_static')
        assert {LASER_FRAME, CAMERA_OPTICAL_FRAME} <= tree.static
        x, y, theta = observer.robot()
        names, base = tree.chain(BASE_FRAME)
        assert names == [BASE_FRAME, ODOM_FRAME, MAP_FRAME]
        print(f'base_link in map by tf: ({base[0, 3]:.3f}, {base[1, 3]:.3f}); '
              f'ground truth ({x:.3f}, {y:.3f})')
        assert math.dist(base[:2, 3], (x, y)) < 0.1
        assert abs(math.remainder(math.atan2(base[1, 0], base[0, 0]) - theta, 2 * math.pi)) < 0.1
        # The odometry frame is not the map frame here: the robot started at the start pose.
        _, odom = tree.chain(ODOM_FRAME)
        assert math.dist(odom[:2, 3], (0.0, 0.0)) > 0.5

        truth = np.array([[math.cos(theta), -math.sin(theta), 0, x],
                          [math.sin(theta), math.cos(theta), 0, y], [0, 0, 1, 0], [0, 0, 0, 1]])
        lidar = WORLD.robot.lidar.mount
        names, laser = tree.chain(LASER_FRAME)
        assert names == [LASER_FRAME, BASE_FRAME, ODOM_FRAME, MAP_FRAME]
        expected = truth @ np.array([lidar.x, lidar.y, lidar.z, 1.0])
        assert np.linalg.norm(laser[:3, 3] - expected[:3]) < 0.1
        # The camera's optical axis (z) looks forward along the robot's heading and down.
        names, optical = tree.chain(CAMERA_OPTICAL_FRAME)
        assert names[-3:] == [BASE_FRAME, ODOM_FRAME, MAP_FRAME]
        axis = optical[:3, 2]
        assert axis[2] < 0 and np.dot(axis[:2], (math.cos(theta), math.sin(theta))) > 0.9

        assert poses and poses[-1].header.frame_id == MAP_FRAME
        last = poses[-1].pose.position
        assert math.dist((last.x, last.y), (x, y)) < 0.1
    finally:
        stack.close()


@pytest.fixture(params=['', 'robot1'], ids=['no-namespace', 'namespace-robot1'])
def nodes_on_domain_0(tmp_path: Path, request: pytest.FixtureRequest
                      ) -> Iterator[tuple[str, list[Path]]]:
    """The simulator, skills node and agent node as separate processes, ROS_DOMAIN_ID unset,
    in the namespace ``request.param`` (as ``ros2 launch ... namespace:=robot1`` starts them)."""
    namespace = request.param
    ns_args = ['-r', f'__ns:=/{namespace}'] if namespace else []
    env = {k: v for k, v in os.environ.items() if k != 'ROS_DOMAIN_ID'}
    env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'  # traffic stays on this machine
    script = tmp_path / 'replies.yaml'
    script.write_text('completions:\n'
                      '  - "```python\\nprint(move(0.5))\\n```"\n'
                      '  - "```python\\ndone(\'moved half a metre\')\\n```"\n')
    logs = [tmp_path / f'{name}.log' for name in ('sim', 'skills', 'agent')]
    procs = [
        start_module(logs[0], 'codeact_robot.nodes.sim_node', '--no-camera', '--ros-args',
                     *ns_args, env=env),
        start_module(logs[1], 'codeact_robot.nodes.skills_node', '--ros-args',
                     '-p', 'use_sim_time:=true', *ns_args, env=env),
        start_module(logs[2], 'codeact_robot.nodes.agent_node', '--ros-args',
                     '-p', 'backend:=replay', '-p', f'llm_script:={script}',
                     '-p', f'runs_dir:={tmp_path / "runs"}', *ns_args, env=env)]
    request.node.user_properties.append(('logs', tmp_path))  # shown if the test fails
    try:
        yield namespace, logs
    finally:
        for proc in reversed(procs):
            stop_process(proc)


def test_nodes_started_apart_meet_on_the_default_domain_and_run_a_command(nodes_on_domain_0):
    namespace, logs = nodes_on_domain_0
    prefix = f'/{namespace}' if namespace else ''
    counts = {'odom': 0, 'scan': 0, 'tf': 0}

    def count(key: str):
        def on_msg(_msg: object) -> None:
            counts[key] += 1
        return on_msg

    with NodeRunner(domain_id=0) as runner:  # an observer on domain 0, as `ros2 topic echo`
        node = runner.add(Node('domain_0_observer', context=runner.context))
        node.create_subscription(Odometry, f'{prefix}/odom', count('odom'), 10)
        node.create_subscription(LaserScan, f'{prefix}/scan', count('scan'), 10)
        node.create_subscription(TFMessage, '/tf', count('tf'), TF_QOS)
        client = ActionClient(node, ExecuteCommand, f'{prefix}/{ACTION_NAME}')
        # Bounds, not paces: three processes import MuJoCo, rclpy and the sandbox beside a
        # possibly busy machine.
        assert client.wait_for_server(timeout_sec=120.0), f'no {prefix}/{ACTION_NAME} on domain 0'
        wait_for(lambda: min(counts.values()) > 0, 60.0, '/odom, /scan and /tf on domain 0')
        sent = client.send_goal_async(ExecuteCommand.Goal(command='move ahead half a metre'))
        wait_for(sent.done, 60.0, 'the agent to accept the command')
        handle = sent.result()
        assert handle.accepted
        result = handle.get_result_async()
        wait_for(result.done, 120.0, 'the command to finish')
        outcome = result.result().result
        assert outcome.success, outcome.failure_reason
        assert outcome.summary == 'moved half a metre'
    for log in logs:  # every node says which graph it joined
        assert 'ROS graph: domain 0, discovery range LOCALHOST' in log.read_text(), log.name


def test_a_ros2_control_base_that_takes_twist_stamped_is_driven():
    # The simulator stands in for diff_drive_controller (TwistStamped on cmd_vel). One process
    # cannot subscribe to a topic with two types, so ground truth is read here without the
    # Observer (which reads cmd_vel as Twist).
    stack = start_embedded(scenario='default', real_time_factor=2.0,
                           sim_params={'enable_camera': False, 'cmd_vel_stamped': True},
                           skills_params={'cmd_vel_stamped': True})
    try:
        node = stack.runner.add(Node('stamped_observer', context=stack.runner.context))
        stamped: list[TwistStamped] = []
        truth: list[GroundTruth] = []
        node.create_subscription(TwistStamped, '/cmd_vel', stamped.append, 50)
        node.create_subscription(GroundTruth, '/sim/ground_truth', truth.append, 50)
        wait_for(lambda: truth, 10.0, 'ground truth')
        start = truth[-1].robot
        assert stack.api.move(0.6).arrived
        end = truth[-1].robot
        assert math.dist((start.x, start.y), (end.x, end.y)) == pytest.approx(0.6, abs=0.1)
        assert stamped and all(m.header.frame_id == BASE_FRAME for m in stamped)
        assert any(m.twist.linear.x > 0.1 for m in stamped)
    finally:
        stack.close()


def test_an_estop_pressed_before_the_skills_node_started_holds_the_robot():
    latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
    with NodeRunner() as button_runner:  # a button driver that latches its state
        button = button_runner.add(Node('estop_button', context=button_runner.context))
        button.create_publisher(Bool, '/estop', latched).publish(Bool(data=True))
        stack = start_embedded(scenario='default', real_time_factor=2.0,
                               sim_params={'enable_camera': False})
        try:
            wait_for(lambda: stack.skills.controller.estop_pressed, 10.0,
                     'the latched press to reach the new skills node')
            with pytest.raises(EStopActiveError):
                stack.api.move(0.3)
        finally:
            stack.close()


def test_start_up_parameters_are_read_only_and_limits_stay_settable():
    stack = start_embedded(scenario='default', real_time_factor=2.0,
                           sim_params={'enable_camera': False})
    try:
        skills = stack.skills
        for name, value in (('control_rate', 50.0), ('cmd_vel_topic', '/other'),
                            ('scan_matching', False), ('publish_map_to_odom', False)):
            result = skills.set_parameters([Parameter(name, value=value)])[0]
            assert not result.successful, name
        assert skills.set_parameters([Parameter('max_linear_speed', value=0.3)])[0].successful
    finally:
        stack.close()


def test_a_robot_mapped_with_slam_plans_on_its_map_server_map(tmp_path):
    from codeact_robot.world.map_file import MapFileError, save_map_yaml

    # Coarser than the planner's own 0.05 m cells: the node must be using the file.
    site = save_map_yaml(WORLD.occupancy_grid(resolution=0.1), tmp_path / 'site.yaml')
    stack = start_embedded(scenario='default', real_time_factor=3.0,
                           sim_params={'enable_camera': False},
                           skills_params={'map_yaml': str(site)})
    try:
        assert stack.skills.nav.grid.resolution == 0.1
        result = stack.api.go_to('aisle 2 west')
        assert result.arrived, result.message
    finally:
        stack.close()
    (tmp_path / 'rotated.yaml').write_text('image: site.pgm\nresolution: 0.1\n'
                                           'origin: [0.0, 0.0, 0.3]\n')
    with pytest.raises(MapFileError, match='rotated'):
        start_embedded(scenario='default', sim_params={'enable_camera': False},
                       skills_params={'map_yaml': str(tmp_path / 'rotated.yaml')})
