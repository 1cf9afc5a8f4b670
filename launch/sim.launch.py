"""Embedded MuJoCo warehouse + skills node (safety layer) + CodeAct agent.

    ros2 launch codeact_robot sim.launch.py scenario:=blocked_aisle_2 backend:=ollama
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

ARGUMENTS = [
    ('world', 'warehouse', 'World description in sim/worlds (name or path).'),
    ('scenario', 'default', 'Scenario in sim/scenarios: placements, obstacles, seed.'),
    ('seed', '-1', 'Random seed of the simulator; -1 = the scenario file\'s seed.'),
    ('real_time_factor', '1.0', 'Simulation speed over wall time; 0 = as fast as possible.'),
    ('viewer', 'false', 'Open a MuJoCo viewer window (needs a display).'),
    ('start_agent', 'true', 'Start the CodeAct agent node.'),
    ('backend', 'auto', 'LLM backend: auto, ollama, llama_cpp, openai or replay.'),
    ('model', '', 'Model name for the backend; empty = the config default.'),
    ('sim_params', 'config/sim.yaml', 'Parameter file of sim_node and skills_node, relative to '
     'the package share directory.'),
    ('agent_params', 'config/agent.yaml', 'Parameter file of agent_node, relative to the package '
     'share directory.'),
]


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare('codeact_robot')
    sim_params = PathJoinSubstitution([share, LaunchConfiguration('sim_params')])
    agent_params = PathJoinSubstitution([share, LaunchConfiguration('agent_params')])
    sim_time = {'use_sim_time': True}
    return LaunchDescription([
        *[DeclareLaunchArgument(name, default_value=default, description=description)
          for name, default, description in ARGUMENTS],
        Node(package='codeact_robot', executable='sim_node', name='sim_node', output='screen',
             parameters=[sim_params, sim_time, {
                 'world': LaunchConfiguration('world'),
                 'scenario': LaunchConfiguration('scenario'),
                 'seed': ParameterValue(LaunchConfiguration('seed'), value_type=int),
                 'real_time_factor': ParameterValue(LaunchConfiguration('real_time_factor'),
                                                    value_type=float),
                 'viewer': ParameterValue(LaunchConfiguration('viewer'), value_type=bool),
             }]),
        Node(package='codeact_robot', executable='skills_node', name='skills_node',
             output='screen', parameters=[sim_params, sim_time,
                                          {'world': LaunchConfiguration('world')}]),
        Node(package='codeact_robot', executable='agent_node', name='agent_node', output='screen',
             condition=IfCondition(LaunchConfiguration('start_agent')),
             parameters=[agent_params, sim_time, {
                 'world': LaunchConfiguration('world'),
                 'backend': LaunchConfiguration('backend'),
                 'model': LaunchConfiguration('model'),
             }]),
    ])
