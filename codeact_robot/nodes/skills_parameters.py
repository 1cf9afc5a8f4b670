"""The skills node's parameters: names, defaults, descriptions and ranges in one table.

Safety limits come from ``safety.limits.LIMIT_SPECS``; config/sim.yaml and config/hardware.yaml
set them per robot. ``ros2 param describe /skills_node <name>`` shows each description.
"""

from __future__ import annotations

from typing import Any

from rclpy.exceptions import ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter

from codeact_robot.nodes.parameters import describe
from codeact_robot.safety.limits import LIMIT_SPECS, SafetyLimits
from codeact_robot.world.map_file import load_map_yaml

# Parameters that are the controller's MotionSettings, by the same name.
MOTION_SETTINGS = ('default_speed', 'contact_speed', 'goal_tolerance', 'yaw_tolerance',
                   'block_lookahead', 'scan_overlay_lifetime', 'blocked_memory',
                   'move_timeout_margin', 'client_timeout')
# Parameters that may change while the node runs; every other one is read at start-up only and
# declared read-only, so a parameter set that could not take effect fails instead of lying.
RUNTIME_PARAMETERS = frozenset((*LIMIT_SPECS, *MOTION_SETTINGS, 'exclusive_cmd_vel'))


def array_parameter(node: Node, name: str) -> list[float]:
    """Return a double-array parameter, or [] when it was not given."""
    try:
        return list(node.get_parameter(name).value or [])
    except ParameterUninitializedException:
        return []  # not given: the world description provides it


def navigator_options(node: Node) -> dict[str, Any]:
    """Return the ``skills.navigator.Navigator`` keyword arguments of the node's parameters.

    Raises:
        MapFileError: ``map_yaml`` names a map that cannot be read.
    """
    p = node.get_parameter
    map_yaml = p('map_yaml').value
    return {'initial_pose': array_parameter(node, 'initial_pose'),
            'lidar_mount': array_parameter(node, 'lidar_mount'),
            'resolution': float(p('plan_resolution').value),
            'planner_margin': float(p('planner_margin').value),
            'geofence_margin': float(p('geofence_margin').value),
            'scan_matching': bool(p('scan_matching').value),
            'static_map': load_map_yaml(map_yaml) if map_yaml else None}


def declare_skills_parameters(node: Node) -> None:
    """Declare every skills node parameter on ``node`` (with its range where it has one)."""
    def declare(name: str, default: object, description: str,
                low: float | None = None, high: float | None = None) -> None:
        bounds = None if low is None or high is None else (low, high)
        node.declare_parameter(name, default, describe(
            description, default, bounds, read_only=name not in RUNTIME_PARAMETERS))

    declare('world', 'warehouse', 'World description (name in sim/worlds or a path).')
    declare('initial_pose', Parameter.Type.DOUBLE_ARRAY,
            'Map pose [x, y, theta] where odom (0, 0, 0) is; empty = the world start pose.')
    declare('map_yaml', '', 'Site map in the map_server format (YAML + PGM, e.g. from '
            'slam_toolbox) to plan and localize on; empty = rasterized from the world '
            'description, which still names the places and keep-out zones.')
    declare('lidar_mount', Parameter.Type.DOUBLE_ARRAY,
            'Lidar pose in base_link [x, y, yaw]; empty = from the world description.')
    for name, topic, what in (
            ('cmd_vel_topic', 'cmd_vel', 'Velocity command output (Twist, or TwistStamped '
             'with cmd_vel_stamped).'),
            ('odom_topic', 'odom', 'Odometry input (nav_msgs/Odometry).'),
            ('scan_topic', 'scan', 'Lidar input (sensor_msgs/LaserScan).'),
            ('image_topic', 'camera/image_raw', 'Camera image (rgb8 or bgr8).'),
            ('depth_topic', 'camera/depth/image_raw', 'Depth image (32FC1, metres).'),
            ('camera_info_topic', 'camera/camera_info', 'Camera intrinsics.'),
            ('gripper_set_service', 'gripper/set', 'Suction on/off (std_srvs/SetBool).'),
            ('gripper_state_topic', 'gripper/state', 'Suction state (GripperState).'),
            ('estop_topic', 'estop', 'E-stop input (std_msgs/Bool, latches on true).')):
        declare(name, topic, what)
    declare('cmd_vel_stamped', False, 'Publish geometry_msgs/TwistStamped (frame base_link) '
            'instead of Twist: what ros2_control\'s diff_drive_controller takes by default '
            'since Jazzy.')
    declare('exclusive_cmd_vel', True, 'Stop the robot and refuse motions while another node '
            'publishes on cmd_vel_topic (it would drive past the safety layer); false for a '
            'base behind a velocity multiplexer.')
    node.declare_parameter('estop_state_file', '', describe(
        'File that keeps a latched e-stop across restarts of this node (~ expands); empty = '
        'in memory only. config/hardware.yaml sets one.', read_only=True))
    for name, spec in LIMIT_SPECS.items():
        declare(name, getattr(SafetyLimits(), name), spec.description, spec.low, spec.high)
    node.declare_parameter('publish_map_to_odom', True, describe(
        'Publish map -> odom on /tf from this node\'s localizer (false: AMCL or a SLAM node owns '
        'that transform).', True, read_only=True))
    declare('navigation', 'internal', "Who plans and follows move_to routes: 'internal' (this "
            "node) or 'nav2' (a NavigateToPose server; goals are still validated here and its "
            'velocity commands pass the safety layer).')
    declare('nav2_action', 'navigate_to_pose', 'NavigateToPose action of navigation: nav2.')
    declare('nav2_cmd_vel_topic', 'cmd_vel_nav', 'Velocity commands of navigation: nav2 (remap '
            "Nav2's controller or velocity smoother output here); the safety layer passes them "
            'on to cmd_vel_topic.')
    declare('scan_matching', True, 'Correct odometry drift by aligning each lidar sweep with '
            'the static map (map pose = correction * initial_pose * odom).')
    declare('control_rate', 20.0, 'Control loop rate (Hz).', 5.0, 100.0)
    declare('camera_sync_tolerance', 0.005, 'Largest stamp difference (s) of a colour and a '
            'depth image taken as one capture (0 = identical stamps).', 0.0, 0.1)
    declare('default_speed', 0.35, 'Cruise speed when a goal gives none (m/s).', 0.05, 2.0)
    declare('contact_speed', 0.1, 'Largest speed of grasp contact approaches (m/s).',
            0.01, 0.3)
    declare('goal_tolerance', 0.05, 'Distance at which a goal position is reached (m).',
            0.02, 0.5)
    declare('yaw_tolerance', 0.05, 'Heading error at which a goal heading is reached (rad).',
            0.01, 0.5)
    declare('plan_resolution', 0.05, 'Planner grid cell size (m).', 0.02, 0.5)
    declare('planner_margin', 0.1, 'Clearance added to the robot radius when planning (m).',
            0.0, 1.0)
    declare('geofence_margin', 0.25, 'How far the robot centre stays inside the world bounds '
            'and outside keep-out zones (m).', 0.0, 2.0)
    declare('block_lookahead', 1.2, 'Route length checked for lidar obstacles (m).', 0.3, 5.0)
    declare('scan_overlay_lifetime', 3.0, 'How long lidar obstacles stay in the planning map '
            '(s).', 0.0, 60.0)
    declare('blocked_memory', 120.0, 'How long an aisle found blocked is avoided (s).',
            0.0, 3600.0)
    declare('move_timeout_margin', 20.0, 'Time allowed beyond the route length at cruise '
            'speed (s).', 1.0, 600.0)
    declare('client_timeout', 2.0, 'Wall seconds without a heartbeat from the client waiting '
            'for a goal (the agent) after which its motion stops; clients that send none, '
            'such as ros2 action send_goal, are not supervised.', 0.5, 60.0)
