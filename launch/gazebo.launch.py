"""The same warehouse in Gazebo (gz sim) via ros_gz, with the skills node and the CodeAct agent.

Needs a ROS 2 install with ros_gz (ros_gz_sim, ros_gz_bridge). Untested in this project's CI, where
Gazebo cannot be installed; the SDF world and bridge config are generated from the same world
description as the embedded simulator (scripts/generate_gazebo.py), so names and topics match.
"""

from launch import LaunchDescription
from launch.actions import (
    AppendEnvironmentVariable,
    DeclareLaunchArgument,
    IncludeLaunchDescription,
    OpaqueFunction,
)
from launch.conditions import IfCondition, UnlessCondition
from launch.launch_context import LaunchContext
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import Command, LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

ARGUMENTS = [
    ('world_sdf', 'sim/gazebo/warehouse.sdf', 'Gazebo world, relative to the package share '
     'directory (generated from sim/worlds/warehouse.yaml).'),
    ('bridge_config', 'sim/gazebo/bridge.yaml', 'ros_gz_bridge topic mapping, relative to the '
     'package share directory.'),
    ('headless', 'true', 'Run the Gazebo server only (no GUI).'),
    ('start_agent', 'true', 'Start the CodeAct agent node.'),
    ('backend', '', 'LLM backend: auto, ollama, llama_cpp, openai or replay; empty = the agent '
     'parameter file\'s.'),
    ('model', '', 'Model name for the backend; empty = the agent parameter file\'s.'),
    ('robot_params', 'config/sim.yaml', 'Parameter file of skills_node, relative to the package '
     'share directory.'),
    ('agent_params', 'config/agent.yaml', 'Parameter file of agent_node, relative to the package '
     'share directory.'),
]
AGENT_OVERRIDES = {'backend': str, 'model': str}


def _agent(context: LaunchContext) -> list[Node]:
    from codeact_robot.config import launch_overrides

    given = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    return [Node(package='codeact_robot', executable='agent_node', name='agent_node',
                 output='screen', condition=IfCondition(LaunchConfiguration('start_agent')),
                 parameters=[PathJoinSubstitution([FindPackageShare('codeact_robot'),
                                                   LaunchConfiguration('agent_params')]),
                             {'use_sim_time': True}, launch_overrides(given, AGENT_OVERRIDES)])]


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare('codeact_robot')
    world = PathJoinSubstitution([share, LaunchConfiguration('world_sdf')])
    sim_time = {'use_sim_time': True}
    return LaunchDescription([
        *[DeclareLaunchArgument(name, default_value=default, description=description)
          for name, default, description in ARGUMENTS],
        # the box marker textures next to the SDF are found through the resource path
        AppendEnvironmentVariable('GZ_SIM_RESOURCE_PATH',
                                  PathJoinSubstitution([share, 'sim', 'gazebo'])),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(PathJoinSubstitution(
                [FindPackageShare('ros_gz_sim'), 'launch', 'gz_sim.launch.py'])),
            launch_arguments={'gz_args': ['-r -s ', world]}.items(),
            condition=IfCondition(LaunchConfiguration('headless'))),
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(PathJoinSubstitution(
                [FindPackageShare('ros_gz_sim'), 'launch', 'gz_sim.launch.py'])),
            launch_arguments={'gz_args': ['-r ', world]}.items(),
            condition=UnlessCondition(LaunchConfiguration('headless'))),
        Node(package='ros_gz_bridge', executable='parameter_bridge', name='gz_bridge',
             output='screen', parameters=[sim_time, {'config_file': PathJoinSubstitution(
                 [share, LaunchConfiguration('bridge_config')])}]),
        # base_link -> laser_link / camera_link / camera_optical_frame for RViz and tf2, from
        # the URDF generated out of the same robot block as the SDF
        Node(package='robot_state_publisher', executable='robot_state_publisher',
             output='screen', parameters=[sim_time, {'robot_description': ParameterValue(
                 Command(['cat ', PathJoinSubstitution([share, 'sim', 'gazebo', 'robot.urdf'])]),
                 value_type=str)}]),
        Node(package='codeact_robot', executable='skills_node', name='skills_node',
             output='screen', parameters=[
                 PathJoinSubstitution([share, LaunchConfiguration('robot_params')]), sim_time]),
        OpaqueFunction(function=_agent),
    ])
