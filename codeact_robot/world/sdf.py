"""Generate the Gazebo (gz sim) world and the ros_gz_bridge config of a World.

scripts/generate_gazebo.py writes them to sim/gazebo/; a test checks the committed files are up
to date and list the same objects as the MJCF, so Gazebo and the embedded simulator cannot drift.
Object names match the MJCF: walls ``wall_south``, shelves ``shelf_A_ledge``/``shelf_A_rack``,
stations ``packing_station``, boxes ``box_red``, obstacle slots ``obstacle_pallet_0``.
"""

from __future__ import annotations

import math
from xml.sax.saxutils import quoteattr

from codeact_robot.world.markers import texture_name
from codeact_robot.world.mjcf import PARK_Z, box_body_name
from codeact_robot.world.model import World

ROBOT_MODEL = 'amr'
TEXTURE_DIR = 'textures'  # relative to the SDF file


def _v(*values: float) -> str:
    return ' '.join(f'{v:.6g}' for v in values)


def _material(rgba: tuple[float, ...], texture: str | None = None) -> str:
    pbr = ''
    if texture:
        pbr = (f'<pbr><metal><albedo_map>{TEXTURE_DIR}/{texture}</albedo_map></metal></pbr>')
    return (f'<material><ambient>{_v(*rgba)}</ambient><diffuse>{_v(*rgba)}</diffuse>'
            f'<specular>0.1 0.1 0.1 1</specular>{pbr}</material>')


def _static_model(name: str, center: tuple[float, float, float], size: tuple[float, float, float],
                  rgba: tuple[float, ...], collide: bool = True) -> str:
    geometry = f'<geometry><box><size>{_v(*size)}</size></box></geometry>'
    collision = f'<collision name="collision">{geometry}</collision>' if collide else ''
    return (f'    <model name={quoteattr(name)}>\n'
            f'      <static>true</static>\n'
            f'      <pose>{_v(*center, 0, 0, 0)}</pose>\n'
            f'      <link name="link">{collision}\n'
            f'        <visual name="visual">{geometry}{_material(rgba)}</visual>\n'
            f'      </link>\n'
            f'    </model>\n')


def static_objects(world: World) -> list[tuple[str, tuple[float, float, float],
                                               tuple[float, float, float], bool]]:
    """Return (name, centre, size, has_collision) of the static world, as in the MJCF."""
    objects = []
    for wall in world.walls:
        (cx, cy), (sx, sy) = wall.rect.center, wall.rect.size
        objects.append((wall.name.replace(' ', '_'), (cx, cy, wall.height / 2),
                        (sx, sy, wall.height), True))
    for shelf in world.shelves:
        ledge, rack = shelf.parts()
        for part, rect, height in (('ledge', ledge, shelf.ledge_height),
                                   ('rack', rack, shelf.height)):
            (cx, cy), (sx, sy) = rect.center, rect.size
            objects.append((f'shelf_{shelf.name}_{part}', (cx, cy, height / 2),
                            (sx, sy, height), True))
    for station in world.stations:
        name = station.name.replace(' ', '_')
        (cx, cy), (sx, sy) = station.rect.center, station.rect.size
        objects.append((name, (cx, cy, station.height / 2), (sx, sy, station.height), True))
        if station.drop_zone is not None:
            (cx, cy), (sx, sy) = station.drop_zone.center, station.drop_zone.size
            objects.append((name + '_drop_zone', (cx, cy, 0.0005), (sx, sy, 0.001), False))
    for zone in world.keep_out:
        (cx, cy), (sx, sy) = zone.rect.center, zone.rect.size
        objects.append(('keep_out_' + zone.name.replace(' ', '_'), (cx, cy, 0.0005),
                        (sx, sy, 0.001), False))
    return objects


def _box_model(world: World, index: int) -> str:
    box = world.boxes[index]
    s, m = box.size, box.mass
    inertia = m * s * s / 6
    geometry = f'<geometry><box><size>{_v(s, s, s)}</size></box></geometry>'
    return (f'    <model name="{box_body_name(box)}">\n'
            f'      <pose>{_v(box.x, box.y, box.z, 0, 0, box.yaw)}</pose>\n'
            f'      <link name="link">\n'
            f'        <inertial><mass>{_v(m)}</mass><inertia><ixx>{_v(inertia)}</ixx>'
            f'<iyy>{_v(inertia)}</iyy><izz>{_v(inertia)}</izz></inertia></inertial>\n'
            f'        <collision name="collision">{geometry}</collision>\n'
            f'        <visual name="visual">{geometry}'
            f'{_material(box.rgba, texture_name(box))}</visual>\n'
            f'      </link>\n'
            f'    </model>\n')


def _obstacle_models(world: World) -> str:
    xml = ''
    for n, kind in enumerate(world.obstacle_kinds.values()):
        for i in range(world.obstacle_slots):
            sx, sy, sz = kind.size
            if kind.shape == 'cylinder':
                geometry = (f'<geometry><cylinder><radius>{_v(sx / 2)}</radius>'
                            f'<length>{_v(sz)}</length></cylinder></geometry>')
            else:
                geometry = f'<geometry><box><size>{_v(sx, sy, sz)}</size></box></geometry>'
            park = (-20.0 - 3.0 * (n * world.obstacle_slots + i), -20.0, PARK_Z)
            # Parked below the floor; /world/<name>/set_pose moves one into an aisle.
            xml += (f'    <model name="obstacle_{kind.name}_{i}">\n'
                    f'      <static>true</static>\n'
                    f'      <pose>{_v(*park, 0, 0, 0)}</pose>\n'
                    f'      <link name="link"><pose>{_v(0, 0, sz / 2, 0, 0, 0)}</pose>\n'
                    f'        <collision name="collision">{geometry}</collision>\n'
                    f'        <visual name="visual">{geometry}{_material(kind.rgba)}</visual>\n'
                    f'      </link>\n'
                    f'    </model>\n')
    return xml


def _robot(world: World) -> str:
    r = world.robot
    sp = world.start_pose
    cam, lid = r.camera, r.lidar
    cam_pose = _v(cam.mount.x, cam.mount.y, cam.mount.z, 0, cam.mount.pitch, cam.mount.yaw)
    wr, wy = r.wheel_radius, r.wheel_separation / 2
    half_h = r.chassis_height / 2
    caster_r = r.chassis_clearance * 0.4
    cx = r.chassis_length / 2 - caster_r - 0.02
    amin, amax, _ = lid.angles()
    hfov = 2 * math.atan((cam.width / 2) / cam.intrinsics()[0])
    wheels = ''
    for side, sign in (('left', 1), ('right', -1)):
        wheels += (
            f'      <link name="{side}_wheel">\n'
            f'        <pose>{_v(0, sign * wy, wr, -math.pi / 2, 0, 0)}</pose>\n'
            f'        <inertial><mass>1.0</mass><inertia><ixx>0.001</ixx><iyy>0.001</iyy>'
            f'<izz>0.0018</izz></inertia></inertial>\n'
            f'        <collision name="collision"><geometry><cylinder><radius>{_v(wr)}</radius>'
            f'<length>0.04</length></cylinder></geometry>'
            f'<surface><friction><ode><mu>1.5</mu><mu2>1.5</mu2></ode></friction></surface>'
            f'</collision>\n'
            f'        <visual name="visual"><geometry><cylinder><radius>{_v(wr)}</radius>'
            f'<length>0.04</length></cylinder></geometry></visual>\n'
            f'      </link>\n'
            f'      <joint name="{side}_wheel_joint" type="revolute">\n'
            f'        <parent>base_link</parent><child>{side}_wheel</child>\n'
            f'        <axis><xyz expressed_in="base_link">0 1 0</xyz>'
            f'<limit><lower>-1e16</lower><upper>1e16</upper></limit></axis>\n'
            f'      </joint>\n')
    casters = ''.join(
        f'        <collision name="caster_{i}"><pose>{_v(x, 0, caster_r, 0, 0, 0)}</pose>'
        f'<geometry><sphere><radius>{_v(caster_r)}</radius></sphere></geometry>'
        f'<surface><friction><ode><mu>0</mu><mu2>0</mu2></ode></friction></surface>'
        f'</collision>\n' for i, x in enumerate((cx, -cx)))
    pad = r.pad_size
    return f'''    <model name="{ROBOT_MODEL}">
      <pose>{_v(sp.x, sp.y, 0, 0, 0, sp.theta)}</pose>
      <link name="base_link">
        <inertial><pose>{_v(0, 0, r.chassis_clearance + half_h, 0, 0, 0)}</pose>
          <mass>{_v(r.chassis_mass)}</mass><inertia><ixx>0.3</ixx><iyy>0.4</iyy><izz>0.5</izz>
          </inertia></inertial>
        <collision name="chassis"><pose>{_v(0, 0, r.chassis_clearance + half_h, 0, 0, 0)}</pose>
          <geometry><box><size>{_v(r.chassis_length, r.chassis_width, r.chassis_height)}</size>
          </box></geometry></collision>
        <visual name="chassis"><pose>{_v(0, 0, r.chassis_clearance + half_h, 0, 0, 0)}</pose>
          <geometry><box><size>{_v(r.chassis_length, r.chassis_width, r.chassis_height)}</size>
          </box></geometry></visual>
        <collision name="suction_pad"><pose>{_v(r.pad_x, 0, r.pad_z, 0, 0, 0)}</pose>
          <geometry><box><size>{_v(*pad)}</size></box></geometry></collision>
        <visual name="suction_pad"><pose>{_v(r.pad_x, 0, r.pad_z, 0, 0, 0)}</pose>
          <geometry><box><size>{_v(*pad)}</size></box></geometry></visual>
{casters}        <sensor name="lidar" type="gpu_lidar">
          <pose>{_v(lid.mount.x, lid.mount.y, lid.mount.z, 0, 0, lid.mount.yaw)}</pose>
          <gz_frame_id>laser_link</gz_frame_id>
          <topic>scan</topic><update_rate>10</update_rate><always_on>true</always_on>
          <lidar><scan><horizontal><samples>{lid.rays}</samples><resolution>1</resolution>
            <min_angle>{_v(amin)}</min_angle><max_angle>{_v(amax)}</max_angle></horizontal>
            </scan><range><min>{_v(lid.range_min)}</min><max>{_v(lid.range_max)}</max>
            <resolution>0.01</resolution></range>
            <noise><type>gaussian</type><mean>0</mean><stddev>{_v(lid.noise_std)}</stddev></noise>
          </lidar>
        </sensor>
        <sensor name="camera" type="rgbd_camera">
          <pose>{cam_pose}</pose>
          <gz_frame_id>camera_optical_frame</gz_frame_id>
          <topic>camera</topic><update_rate>10</update_rate><always_on>true</always_on>
          <camera><horizontal_fov>{_v(hfov)}</horizontal_fov>
            <image><width>{cam.width}</width><height>{cam.height}</height><format>R8G8B8</format>
            </image><clip><near>{_v(cam.near)}</near><far>{_v(cam.far)}</far></clip>
          </camera>
        </sensor>
      </link>
{wheels}      <plugin filename="gz-sim-diff-drive-system" name="gz::sim::systems::DiffDrive">
        <left_joint>left_wheel_joint</left_joint><right_joint>right_wheel_joint</right_joint>
        <wheel_separation>{_v(r.wheel_separation)}</wheel_separation>
        <wheel_radius>{_v(wr)}</wheel_radius>
        <max_linear_velocity>{_v(r.max_linear_speed)}</max_linear_velocity>
        <max_angular_velocity>{_v(r.max_angular_speed)}</max_angular_velocity>
        <topic>cmd_vel</topic><odom_topic>odom</odom_topic><tf_topic>tf</tf_topic>
        <frame_id>odom</frame_id><child_frame_id>base_link</child_frame_id>
        <odom_publish_frequency>50</odom_publish_frequency>
      </plugin>
      <plugin filename="gz-sim-joint-state-publisher-system"
        name="gz::sim::systems::JointStatePublisher">
        <topic>joint_states</topic>
      </plugin>
    </model>
'''


def build_sdf(world: World) -> str:
    """Return the SDF (gz sim) world of ``world``: same objects and names as the MJCF."""
    static = ''.join(
        _static_model(name, center, size,
                      (0.9, 0.2, 0.2, 1) if name.startswith('keep_out') else (0.6, 0.6, 0.6, 1),
                      collide)
        for name, center, size, collide in static_objects(world))
    boxes = ''.join(_box_model(world, i) for i in range(len(world.boxes)))
    cx, cy = world.bounds.center
    return f'''<?xml version="1.0"?>
<!-- GENERATED by scripts/generate_gazebo.py from {world.name}.yaml: do not edit. -->
<sdf version="1.9">
  <world name={quoteattr(world.name)}>
    <physics name="2ms" type="ignored"><max_step_size>0.002</max_step_size>
      <real_time_factor>1.0</real_time_factor></physics>
    <plugin filename="gz-sim-physics-system" name="gz::sim::systems::Physics"/>
    <plugin filename="gz-sim-user-commands-system" name="gz::sim::systems::UserCommands"/>
    <plugin filename="gz-sim-scene-broadcaster-system" name="gz::sim::systems::SceneBroadcaster"/>
    <plugin filename="gz-sim-sensors-system" name="gz::sim::systems::Sensors">
      <render_engine>ogre2</render_engine>
    </plugin>
    <light type="directional" name="sun"><cast_shadows>false</cast_shadows>
      <pose>{_v(cx, cy, 6, 0, 0, 0)}</pose><diffuse>0.8 0.8 0.8 1</diffuse>
      <direction>0 0.3 -1</direction></light>
    <model name="floor"><static>true</static>
      <link name="link"><collision name="collision"><geometry><plane><normal>0 0 1</normal>
        <size>{_v(2 * cx + 4, 2 * cy + 4)}</size></plane></geometry></collision>
        <visual name="visual"><geometry><plane><normal>0 0 1</normal>
        <size>{_v(2 * cx + 4, 2 * cy + 4)}</size></plane></geometry>
        {_material((0.62, 0.62, 0.6, 1))}</visual></link>
      <pose>{_v(cx, cy, 0, 0, 0, 0)}</pose>
    </model>
{static}{boxes}{_obstacle_models(world)}{_robot(world)}  </world>
</sdf>
'''


_BRIDGE = (
    # ros topic, gz topic, ros type, gz type, direction
    ('/clock', '/clock', 'rosgraph_msgs/msg/Clock', 'gz.msgs.Clock', 'GZ_TO_ROS'),
    ('/cmd_vel', '/cmd_vel', 'geometry_msgs/msg/Twist', 'gz.msgs.Twist', 'ROS_TO_GZ'),
    ('/odom', '/odom', 'nav_msgs/msg/Odometry', 'gz.msgs.Odometry', 'GZ_TO_ROS'),
    ('/scan', '/scan', 'sensor_msgs/msg/LaserScan', 'gz.msgs.LaserScan', 'GZ_TO_ROS'),
    ('/camera/image_raw', '/camera/image', 'sensor_msgs/msg/Image', 'gz.msgs.Image',
     'GZ_TO_ROS'),
    ('/camera/depth/image_raw', '/camera/depth_image', 'sensor_msgs/msg/Image', 'gz.msgs.Image',
     'GZ_TO_ROS'),
    ('/camera/camera_info', '/camera/camera_info', 'sensor_msgs/msg/CameraInfo',
     'gz.msgs.CameraInfo', 'GZ_TO_ROS'),
    ('/joint_states', '/joint_states', 'sensor_msgs/msg/JointState', 'gz.msgs.Model',
     'GZ_TO_ROS'),
    ('/tf', '/tf', 'tf2_msgs/msg/TFMessage', 'gz.msgs.Pose_V', 'GZ_TO_ROS'),
)


def bridge_config(world: World) -> str:
    """Return the ros_gz_bridge YAML mapping Gazebo topics to the embedded simulator's names."""
    lines = [f'# GENERATED by scripts/generate_gazebo.py from {world.name}.yaml: do not edit.',
             '# ros_gz_bridge parameter_bridge config: the same ROS names as sim_node.',
             '# /gripper/set, /gripper/state, /sim/set_obstacle and /sim/ground_truth have no',
             '# Gazebo counterpart here (suction and obstacles need an adapter node).']
    for ros, gz, ros_type, gz_type, direction in _BRIDGE:
        lines += [f'- ros_topic_name: "{ros}"', f'  gz_topic_name: "{gz}"',
                  f'  ros_type_name: "{ros_type}"', f'  gz_type_name: "{gz_type}"',
                  f'  direction: {direction}']
    return '\n'.join(lines) + '\n'
