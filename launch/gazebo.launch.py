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
)
from launch.conditions import IfCondition, UnlessCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

ARGUMENTS = [
    ('world_sdf', 'sim/gazebo/warehouse.sdf', 'Gazebo world, relative to the package share '
     'directory (generated from sim/worlds/warehouse.yaml).'),
    ('bridge_config', 'sim/gazebo/bridge.yaml', 'ros_gz_bridge topic mapping, relative to the '
     'package share directory.'),
    ('headless', 'true', 'Run the Gazebo server only (no GUI).'),
    ('start_agent', 'true', 'Start the CodeAct agent node.'),
    ('backend', 'auto', 'LLM backend: auto, ollama, llama_cpp, openai or replay.'),
    ('model', '', 'Model name for the backend; empty = the config default.'),
    ('robot_params', 'config/sim.yaml', 'Parameter file of skills_node, relative to the package '
     'share directory.'),
    ('agent_params', 'config/agent.yaml', 'Parameter file of agent_node, relative to the package '
     'share directory.'),
]


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
        Node(package='codeact_robot', executable='skills_node', name='skills_node',
             output='screen', parameters=[
                 PathJoinSubstitution([share, LaunchConfiguration('robot_params')]), sim_time]),
        Node(package='codeact_robot', executable='agent_node', name='agent_node', output='screen',
             condition=IfCondition(LaunchConfiguration('start_agent')),
             parameters=[PathJoinSubstitution([share, LaunchConfiguration('agent_params')]),
                         sim_time, {'backend': LaunchConfiguration('backend'),
                                    'model': LaunchConfiguration('model')}]),
    ])
