"""Skills node (safety layer) + CodeAct agent for a real robot or any external simulator.

Topic names are remappable so the same nodes drive your robot's base, lidar, camera and gripper
(the remaps reach both nodes):

    ros2 launch codeact_robot robot.launch.py cmd_vel:=/base/cmd_vel scan:=/front/scan

Arguments left empty keep the parameter files' values (config/hardware.yaml, config/agent.yaml).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.launch_context import LaunchContext
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

TOPICS = [
    ('cmd_vel', '/cmd_vel', 'Velocity command topic of the base (Twist, or TwistStamped with the '
     'skills node parameter cmd_vel_stamped).'),
    ('odom', '/odom', 'Wheel odometry topic (nav_msgs/Odometry).'),
    ('scan', '/scan', '2D lidar topic (sensor_msgs/LaserScan).'),
    ('image', '/camera/image_raw', 'RGB image topic (sensor_msgs/Image).'),
    ('depth', '/camera/depth/image_raw', 'Depth image topic, 32FC1 metres (sensor_msgs/Image).'),
    ('camera_info', '/camera/camera_info', 'Camera intrinsics (sensor_msgs/CameraInfo).'),
    ('gripper_set', '/gripper/set', 'Suction on/off service (std_srvs/SetBool).'),
    ('gripper_state', '/gripper/state', 'Gripper state (codeact_robot_interfaces/GripperState).'),
]
ARGUMENTS = [
    ('world', '', 'World description (map, named places, keep-out zones); empty = the '
     'parameter files\'.'),
    ('use_sim_time', 'false', 'Use /clock (true when an external simulator drives the robot).'),
    ('start_agent', 'true', 'Start the CodeAct agent node.'),
    ('backend', '', 'LLM backend: auto, ollama, llama_cpp, openai or replay; empty = the agent '
     'parameter file\'s.'),
    ('model', '', 'Model name for the backend; empty = the agent parameter file\'s.'),
    ('view', 'false', 'Serve the live view to the Foxglove app (Foxglove WebSocket on '
     '127.0.0.1:view_port; layout config/foxglove_layout.json): true or false.'),
    ('view_port', '8765', 'Port of the live view\'s WebSocket server.'),
    ('record', '', 'MCAP file the view node records the robot\'s topics to; empty = no '
     'recording.'),
    ('namespace', '', 'ROS namespace of both nodes (e.g. robot1); empty = none.'),
    ('robot_params', 'config/hardware.yaml', 'Parameter file of skills_node (limits, topics), '
     'relative to the package share directory.'),
    ('agent_params', 'config/agent.yaml', 'Parameter file of agent_node, relative to the package '
     'share directory.'),
]
SKILLS_OVERRIDES = {'world': str}
AGENT_OVERRIDES = {'world': str, 'backend': str, 'model': str}


def _nodes(context: LaunchContext) -> list[Node]:
    from codeact_robot.config import launch_overrides

    given = {name: LaunchConfiguration(name).perform(context) for name, _, _ in ARGUMENTS}
    share = FindPackageShare('codeact_robot')
    use_sim_time = {'use_sim_time': ParameterValue(LaunchConfiguration('use_sim_time'),
                                                   value_type=bool)}
    remaps = [(default, LaunchConfiguration(name)) for name, default, _ in TOPICS]
    namespace = LaunchConfiguration('namespace')
    nodes = [
        Node(package='codeact_robot', executable='skills_node', name='skills_node',
             output='screen', namespace=namespace, remappings=remaps,
             parameters=[PathJoinSubstitution([share, LaunchConfiguration('robot_params')]),
                         use_sim_time, launch_overrides(given, SKILLS_OVERRIDES)]),
        Node(package='codeact_robot', executable='agent_node', name='agent_node', output='screen',
             namespace=namespace, remappings=remaps,
             condition=IfCondition(LaunchConfiguration('start_agent')),
             parameters=[PathJoinSubstitution([share, LaunchConfiguration('agent_params')]),
                         use_sim_time, launch_overrides(given, AGENT_OVERRIDES)]),
    ]
    view = LaunchConfiguration('view').perform(context).lower() == 'true'
    record = LaunchConfiguration('record').perform(context)
    if view or record:
        nodes.append(Node(
            package='codeact_robot', executable='view_node', name='view_node', output='screen',
            namespace=namespace, remappings=remaps, parameters=[use_sim_time, {
                'live': view, 'record': record,
                'port': int(LaunchConfiguration('view_port').perform(context)),
                **launch_overrides(given, {'world': str})}]))
    return nodes


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        *[DeclareLaunchArgument(name, default_value=default, description=description)
          for name, default, description in TOPICS + ARGUMENTS],
        OpaqueFunction(function=_nodes),
    ])
