"""bringup: start_embedded() and start_connected() give a ready API and stop the robot on close."""

from __future__ import annotations

import math

import pytest
from geometry_msgs.msg import Twist
from rclpy.node import Node
from rclpy.parameter import Parameter
from ros_observer import Observer
from std_msgs.msg import Bool

from codeact_robot.api.errors import EStopActiveError
from codeact_robot.nodes.bringup import start_connected, start_embedded
from codeact_robot.nodes.runner import NodeRunner, wait_for
from codeact_robot.nodes.sim_node import SimNode
from codeact_robot.nodes.skills_node import SkillsNode

pytestmark = pytest.mark.ros


@pytest.mark.acceptance
def test_embedded_robot_is_ready_and_stops_on_close():
    with start_embedded(scenario='default', sim_params={'enable_camera': False}) as stack:
        api = stack.api
        pose = api.get_pose()
        assert math.dist((pose.x, pose.y), (1.2, 4.0)) < 0.05
        assert api.turn(0.3).arrived


@pytest.mark.parametrize('skills_running', [True, False])
def test_connect_robot_uses_a_running_skills_node_or_starts_one(skills_running):
    # An "external robot": the simulator (and maybe a skills node) in another ROS context,
    # reached over DDS like a robot on the network.
    with NodeRunner() as robot:
        robot.add(SimNode(context=robot.context, parameter_overrides=[
            Parameter('enable_camera', value=False)]))
        if skills_running:
            robot.add(SkillsNode(context=robot.context, parameter_overrides=[
                Parameter('use_sim_time', value=True)]))
        cmds: list[float] = []
        probe = robot.add(Node('probe', context=robot.context))
        probe.create_subscription(Twist, '/cmd_vel', lambda m: cmds.append(m.linear.x), 50)
        with start_connected(start_skills=None, discovery_timeout=3.0,
                             skills_params={'use_sim_time': True}) as stack:
            assert stack.api.move(0.3).arrived
            moved = list(cmds)
        assert any(v > 0.0 for v in moved)
        wait_for(lambda: cmds and cmds[-1] == 0.0, 5.0, 'a final zero command')


def test_a_latched_e_stop_survives_a_restart_of_the_skills_node(tmp_path):
    state = tmp_path / 'estop_latched'
    params = {'estop_state_file': str(state)}
    no_camera = {'enable_camera': False}
    with start_embedded(sim_params=no_camera, skills_params=params) as stack:
        obs = Observer(stack)
        obs.estop_pub.publish(Bool(data=True))
        wait_for(state.exists, 5.0, 'the latch written to its state file')
    # A new skills node (a restart) with the same file: the robot stays stopped.
    with start_embedded(sim_params=no_camera, skills_params=params) as stack:
        assert stack.skills.controller.estop.active
        with pytest.raises(EStopActiveError):
            stack.api.turn(0.3)
        obs = Observer(stack)
        obs.release_and_reset_estop()
        assert not state.exists()
        assert stack.api.turn(0.3).arrived
