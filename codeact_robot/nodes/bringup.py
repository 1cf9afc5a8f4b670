"""Start the robot stack in this process and hand out a ready RosRobotApi.

``start_embedded()`` runs the MuJoCo simulator node, the skills node and a client node on one
NodeRunner; ``start_connected()`` talks to an external robot (Gazebo or hardware), starting the
skills node here unless one already runs. Both wait (bounded) until odometry and lidar arrive
and the skills' action servers answer. The RobotStack they return stops the robot before it
closes, also as a context manager: ``with start_embedded() as stack: stack.api.go_to(...)``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from rclpy.node import Node
from rclpy.parameter import Parameter

from codeact_robot.api.errors import RobotNotReadyError
from codeact_robot.config import node_parameters
from codeact_robot.nodes.ros_robot_api import RosRobotApi
from codeact_robot.nodes.runner import NodeRunner, WaitTimeoutError, wait_for
from codeact_robot.world import load_world


@dataclass
class RobotStack:
    """The running nodes and the API; ``sim`` is None for an external robot."""

    runner: NodeRunner
    api: RosRobotApi
    client: Node
    skills: Any = None
    sim: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the robot (zero velocity), then shut the nodes down."""
        try:
            if self.skills is not None:
                self.skills.controller.request_stop('the robot stack is shutting down', 'bringup')
            else:
                self.api.emergency_stop('the robot stack is shutting down')
            time.sleep(0.2)  # let the zero command reach the base before the nodes go
        finally:
            self.runner.close(timeout)

    def __enter__(self) -> RobotStack:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _overrides(config: str | None, node: str, params: dict[str, Any]) -> list[Parameter]:
    # A file without a section for this node leaves its declared defaults; a missing or broken
    # file is an error (a typo must not silently run the robot on defaults).
    values = node_parameters(config, node, section_required=False) if config else {}
    values.update(params)
    return [Parameter(k, value=v) for k, v in values.items()]


def _wait_ready(stack: RobotStack, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    skills = stack.skills
    try:
        if skills is not None:
            wait_for(lambda: skills.controller.odom_stamp is not None, timeout, 'odometry (/odom)')
            wait_for(lambda: skills.controller.scan_stamp is not None,
                     max(0.1, deadline - time.monotonic()), 'the lidar (/scan)')
    except WaitTimeoutError as e:
        raise RobotNotReadyError(f'the robot is not ready: {e}') from e
    stack.api.wait_until_ready(max(0.1, deadline - time.monotonic()))


def start_embedded(world: str = 'warehouse', scenario: str = 'default', seed: int = 0,
                   real_time_factor: float = 1.0, *, config: str | None = 'sim.yaml',
                   sim_params: dict[str, Any] | None = None,
                   skills_params: dict[str, Any] | None = None, use_sim_time: bool = True,
                   ready_timeout: float = 60.0, num_threads: int = 8) -> RobotStack:
    """Start simulator + skills node + client in this process; return the ready stack.

    Args:
        world: World name or path (sim/worlds).
        scenario: Scenario name or path (sim/scenarios).
        seed: Simulator seed.
        real_time_factor: Simulation speed over wall time (0 = as fast as possible).
        config: Parameter file with sim_node/skills_node sections ('sim.yaml'), or None.
        sim_params: Extra sim_node parameters (win over the file).
        skills_params: Extra skills_node parameters (win over the file).
        use_sim_time: Run the skills node on the simulator's /clock.
        ready_timeout: Bound of the wait for sensors and servers (s).
        num_threads: Executor threads shared by the nodes.
    """
    from codeact_robot.nodes.sim_node import SimNode
    from codeact_robot.nodes.skills_node import SkillsNode

    world_obj = load_world(world)
    runner = NodeRunner(num_threads=num_threads)
    try:
        sim = runner.add(SimNode(context=runner.context, parameter_overrides=_overrides(
            config, 'sim_node', {'world': world, 'scenario': scenario, 'seed': int(seed),
                                 'real_time_factor': float(real_time_factor),
                                 **(sim_params or {})})))
        skills = runner.add(SkillsNode(world=world_obj, context=runner.context,
                                       parameter_overrides=_overrides(
                                           config, 'skills_node',
                                           {'world': world, 'use_sim_time': use_sim_time,
                                            **(skills_params or {})})))
        client = runner.add(Node('robot_api_client', context=runner.context))
        stack = RobotStack(runner, RosRobotApi(client, world_obj), client, skills, sim)
        _wait_ready(stack, ready_timeout)
        return stack
    except BaseException:
        runner.close()
        raise


@dataclass
class Fleet:
    """Several robots in one simulated warehouse: one robot stack per namespace."""

    runner: NodeRunner
    sim: Any
    robots: dict[str, RobotStack]

    def close(self, timeout: float = 5.0) -> None:
        """Stop every robot, then shut all nodes down."""
        try:
            for stack in self.robots.values():
                stack.skills.controller.request_stop('the fleet is shutting down', 'bringup')
            time.sleep(0.2)  # let the zero commands reach the bases before the nodes go
        finally:
            self.runner.close(timeout)

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def start_fleet(robots: dict[str, tuple[float, float, float]], world: str = 'warehouse',
                scenario: str = 'default', seed: int = 0, real_time_factor: float = 1.0, *,
                config: str | None = 'sim.yaml', ready_timeout: float = 60.0,
                num_threads: int = 8) -> Fleet:
    """Start one simulator with several robots, a skills node and a client per robot.

    Each robot's nodes run in its namespace (``robots`` maps namespace -> start pose in the
    map frame) with ``/tf`` and ``/tf_static`` remapped into it, as in Nav2's multi-robot
    bringup; ``Fleet.robots[namespace].api`` drives that robot.
    """
    from codeact_robot.nodes.sim_node import SimNode
    from codeact_robot.nodes.skills_node import SkillsNode

    world_obj = load_world(world)
    names = list(robots)
    poses = [float(v) for name in names for v in robots[name]]
    runner = NodeRunner(num_threads=num_threads)
    try:
        sim = runner.add(SimNode(context=runner.context, parameter_overrides=_overrides(
            config, 'sim_node', {'world': world, 'scenario': scenario, 'seed': int(seed),
                                 'real_time_factor': float(real_time_factor),
                                 'robots': names, 'robot_poses': poses})))
        stacks = {}
        for name in names:
            tf = ['--ros-args', '-r', '/tf:=tf', '-r', '/tf_static:=tf_static']
            skills = runner.add(SkillsNode(
                world=world_obj, context=runner.context, namespace=name, cli_args=tf,
                parameter_overrides=_overrides(config, 'skills_node', {
                    'world': world, 'use_sim_time': True,
                    'initial_pose': [float(v) for v in robots[name]]})))
            client = runner.add(Node('robot_api_client', namespace=name,
                                     context=runner.context))
            stacks[name] = RobotStack(runner, RosRobotApi(client, world_obj), client, skills,
                                      sim)
        for stack in stacks.values():
            _wait_ready(stack, ready_timeout)
        return Fleet(runner, sim, stacks)
    except BaseException:
        runner.close()
        raise


def start_connected(world: str = 'warehouse', *, start_skills: bool | None = None,
                    config: str | None = 'hardware.yaml',
                    skills_params: dict[str, Any] | None = None, localhost: bool = False,
                    discovery_timeout: float = 3.0, ready_timeout: float = 30.0) -> RobotStack:
    """Connect to an external robot; start a skills node here unless one is running.

    Args:
        world: World description of the site (places, zones, map).
        start_skills: True = always start one, False = never, None = only if none answers
            within ``discovery_timeout``.
        config: Parameter file with a skills_node section (topic names, limits).
        skills_params: Extra skills_node parameters.
        localhost: Restrict DDS to this machine (set ROS_AUTOMATIC_DISCOVERY_RANGE yourself
            for a real robot on the network).
        discovery_timeout: How long to look for a running skills node (s).
        ready_timeout: Bound of the wait for sensors and servers (s).
    """
    from codeact_robot.nodes.skills_node import SkillsNode

    world_obj = load_world(world)
    runner = NodeRunner(num_threads=6, localhost=localhost)
    try:
        client = runner.add(Node('robot_api_client', context=runner.context))
        api = RosRobotApi(client, world_obj)
        skills = None
        if start_skills is None:
            start_skills = not api.skills_alive(discovery_timeout)
        if start_skills:
            skills = runner.add(SkillsNode(world=world_obj, context=runner.context,
                                           parameter_overrides=_overrides(
                                               config, 'skills_node',
                                               {'world': world, **(skills_params or {})})))
        stack = RobotStack(runner, api, client, skills)
        _wait_ready(stack, ready_timeout)
        return stack
    except BaseException:
        runner.close()
        raise
