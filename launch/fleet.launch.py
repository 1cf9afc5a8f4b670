"""Several robots in one embedded MuJoCo warehouse, each with its own skills node and agent.

    ros2 launch codeact_robot fleet.launch.py robots:=robot1,robot2 \
        robot_poses:="1.2 4.0 0.0  10.3 1.6 1.5708"

One sim_node carries every robot: robot ``robot1``'s topics are ``/robot1/odom``,
``/robot1/cmd_vel``, ... and its frames are on ``/robot1/tf``. Each robot's skills_node and
agent_node run in its namespace with ``/tf`` and ``/tf_static`` remapped into it (Nav2's
multi-robot convention), so a command goes to one robot:

    ros2 action send_goal /robot2/agent/execute_command \
        codeact_robot_interfaces/action/ExecuteCommand "{command: 'go to the packing station'}"

Arguments left empty keep the parameter files' values (config/sim.yaml, config/agent.yaml).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.launch_context import LaunchContext
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

ARGUMENTS = [
    ('robots', 'robot1,robot2', 'Namespaces of the robots, comma-separated.'),
    ('robot_poses', '1.2 4.0 0.0 10.3 1.6 1.5708', 'Start pose of each robot in the map frame: '
     'x y yaw per robot, in the order of robots.'),
    ('world', '', 'World description in sim/worlds (name or path); empty = the parameter '
     'files\'.'),
    ('scenario', '', 'Scenario in sim/scenarios; empty = the parameter file\'s.'),
    ('real_time_factor', '', 'Simulation speed over wall time; empty = the parameter file\'s.'),
    ('start_agent', 'true', 'Start a CodeAct agent node for each robot.'),
    ('backend', '', 'LLM backend: auto, ollama, llama_cpp, openai or replay; empty = the agent '
     'parameter file\'s.'),
    ('sim_params', 'config/sim.yaml', 'Parameter file of sim_node and skills_node, relative to '
     'the package share directory.'),
    ('agent_params', 'config/agent.yaml', 'Parameter file of agent_node, relative to the package '
     'share directory.'),
]
SIM_OVERRIDES = {'world': str, 'scenario': str, 'real_time_factor': float}
SKILLS_OVERRIDES = {'world': str}
AGENT_OVERRIDES = {'world': str, 'backend': str}
TF_INTO_NAMESPACE = [('/tf', 'tf'), ('/tf_static', 'tf_static')]


def _robots(context: LaunchContext) -> dict[str, list[float]]:
    names = [n.strip() for n in LaunchConfiguration('robots').perform(context).split(',')
             if n.strip()]
    poses = [float(v) for v in LaunchConfiguration('robot_poses').perform(context).split()]
    if len(poses) != 3 * len(names):
        raise ValueError(f'robot_poses needs x y yaw for each of {names}: '
                         f'{3 * len(names)} numbers, got {len(poses)}')
    return {name: poses[3 * i:3 * i + 3] for i, name in enumerate(names)}


def _nodes(context: LaunchContext) -> list[Node]:
    from codeact_robot.config import launch_overrides

    given = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    robots = _robots(context)
    share = FindPackageShare('codeact_robot')
    sim_params = PathJoinSubstitution([share, LaunchConfiguration('sim_params')])
    agent_params = PathJoinSubstitution([share, LaunchConfiguration('agent_params')])
    sim_time = {'use_sim_time': True}
    nodes = [Node(package='codeact_robot', executable='sim_node', name='sim_node',
                  output='screen', parameters=[
                      sim_params, sim_time, launch_overrides(given, SIM_OVERRIDES),
                      {'robots': list(robots),
                       'robot_poses': [v for pose in robots.values() for v in pose]}])]
    for name, pose in robots.items():
        nodes += [
            Node(package='codeact_robot', executable='skills_node', name='skills_node',
                 output='screen', namespace=name, remappings=TF_INTO_NAMESPACE,
                 parameters=[sim_params, sim_time, launch_overrides(given, SKILLS_OVERRIDES),
                             {'initial_pose': pose}]),
            Node(package='codeact_robot', executable='agent_node', name='agent_node',
                 output='screen', namespace=name, remappings=TF_INTO_NAMESPACE,
                 condition=IfCondition(LaunchConfiguration('start_agent')),
                 parameters=[agent_params, sim_time, launch_overrides(given, AGENT_OVERRIDES)]),
        ]
    return nodes


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        *[DeclareLaunchArgument(name, default_value=default, description=description)
          for name, default, description in ARGUMENTS],
        OpaqueFunction(function=_nodes),
    ])
