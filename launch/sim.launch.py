"""Embedded MuJoCo warehouse + skills node (safety layer) + CodeAct agent.

    ros2 launch codeact_robot sim.launch.py scenario:=blocked_aisle_2 backend:=ollama

Arguments left empty keep the parameter files' values (config/sim.yaml, config/agent.yaml): an
argument given on the command line wins over the file, an edited file wins over nothing.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.launch_context import LaunchContext
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

ARGUMENTS = [
    ('world', '', 'World description in sim/worlds (name or path); empty = the parameter '
     'files\'.'),
    ('scenario', '', 'Scenario in sim/scenarios (placements, obstacles, seed); empty = the '
     'parameter file\'s.'),
    ('seed', '', 'Random seed of the simulator, -1 = the scenario\'s; empty = the parameter '
     'file\'s.'),
    ('real_time_factor', '', 'Simulation speed over wall time, 0 = as fast as possible; empty = '
     'the parameter file\'s.'),
    ('viewer', '', 'Open a MuJoCo viewer window (needs a display): true or false; empty = the '
     'parameter file\'s.'),
    ('start_agent', 'true', 'Start the CodeAct agent node.'),
    ('backend', '', 'LLM backend: auto, ollama, llama_cpp, openai or replay; empty = the agent '
     'parameter file\'s.'),
    ('model', '', 'Model name for the backend; empty = the agent parameter file\'s.'),
    ('view', 'false', 'Serve the live view to the Foxglove app (Foxglove WebSocket on '
     '127.0.0.1:view_port; layout config/foxglove_layout.json): true or false.'),
    ('view_port', '8765', 'Port of the live view\'s WebSocket server.'),
    ('record', '', 'MCAP file the view node records the robot\'s topics to; empty = no '
     'recording.'),
    ('namespace', '', 'ROS namespace of the three nodes and their relative topics, services and '
     'actions (e.g. robot1); empty = none.'),
    ('sim_params', 'config/sim.yaml', 'Parameter file of sim_node and skills_node, relative to '
     'the package share directory.'),
    ('agent_params', 'config/agent.yaml', 'Parameter file of agent_node, relative to the package '
     'share directory.'),
]
# The arguments that override a node's parameters when given, with the parameter types.
SIM_OVERRIDES = {'world': str, 'scenario': str, 'seed': int, 'real_time_factor': float,
                 'viewer': bool}
SKILLS_OVERRIDES = {'world': str}
AGENT_OVERRIDES = {'world': str, 'backend': str, 'model': str}


def _nodes(context: LaunchContext) -> list[Node]:
    from codeact_robot.config import launch_overrides

    given = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    share = FindPackageShare('codeact_robot')
    sim_params = PathJoinSubstitution([share, LaunchConfiguration('sim_params')])
    agent_params = PathJoinSubstitution([share, LaunchConfiguration('agent_params')])
    sim_time = {'use_sim_time': True}
    namespace = LaunchConfiguration('namespace')
    nodes = [
        Node(package='codeact_robot', executable='sim_node', name='sim_node', output='screen',
             namespace=namespace,
             parameters=[sim_params, sim_time, launch_overrides(given, SIM_OVERRIDES)]),
        Node(package='codeact_robot', executable='skills_node', name='skills_node',
             output='screen', namespace=namespace,
             parameters=[sim_params, sim_time, launch_overrides(given, SKILLS_OVERRIDES)]),
        Node(package='codeact_robot', executable='agent_node', name='agent_node', output='screen',
             namespace=namespace, condition=IfCondition(LaunchConfiguration('start_agent')),
             parameters=[agent_params, sim_time, launch_overrides(given, AGENT_OVERRIDES)]),
    ]
    view = LaunchConfiguration('view').perform(context).lower() == 'true'
    record = LaunchConfiguration('record').perform(context)
    if view or record:
        nodes.append(Node(
            package='codeact_robot', executable='view_node', name='view_node', output='screen',
            namespace=namespace, parameters=[sim_time, {
                'live': view, 'record': record,
                'port': int(LaunchConfiguration('view_port').perform(context)),
                **launch_overrides(given, {'world': str})}]))
    return nodes


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        *[DeclareLaunchArgument(name, default_value=default, description=description)
          for name, default, description in ARGUMENTS],
        OpaqueFunction(function=_nodes),
    ])
