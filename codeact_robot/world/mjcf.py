"""Generate the MuJoCo model (MJCF) of a World at load time, so it cannot drift from the YAML.

Geom groups: 0 static world, 1 boxes, 2 dynamic obstacles, 3 robot, 4 floor markings (visual),
5 robot shells (an invisible outline of each robot at lidar height, so that with several robots
each lidar sees the others but not itself). The lidar sees groups 0-2 (and 5, without its own
robot); the camera renders 0, 1, 2 and 4.

Several robots share one warehouse: the first keeps the plain names (``base_link``,
``left_wheel_joint``, ...), robot ``i`` > 0 has every name prefixed with ``robot_prefix(i)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from xml.sax.saxutils import quoteattr

from codeact_robot.world.markers import face_texture, png_bytes, texture_name
from codeact_robot.world.model import Box, World
from codeact_robot.world.scenario import Scenario

GROUP_STATIC, GROUP_BOX, GROUP_OBSTACLE, GROUP_ROBOT, GROUP_MARKING, GROUP_SHELL = range(6)
ROBOT_BODY = 'base_link'
LEFT_WHEEL, RIGHT_WHEEL = 'left_wheel_joint', 'right_wheel_joint'
CAMERA_NAME, LIDAR_SITE, PAD_GEOM = 'camera', 'lidar', 'suction_pad'
WHEEL_ACTUATORS = ('left_wheel', 'right_wheel')
PARK_Z = -5.0  # unused obstacles wait below the floor, out of sight and out of the lidar plane
OFFSCREEN = (1280, 960)  # largest camera image the model can render
WHEEL_FORCE = 2.0  # N m per wheel: ~3 m/s^2 for the ~20 kg robot, below the friction limit


@dataclass(frozen=True)
class MjcfModel:
    """MJCF text plus the in-memory assets (textures) it references, and its naming."""

    xml: str
    assets: dict[str, bytes]
    box_bodies: dict[str, str]  # box name -> body name
    obstacle_slots: dict[str, list[str]] = field(default_factory=dict)  # kind -> mocap bodies


def robot_prefix(index: int) -> str:
    """Prefix of robot ``index``'s MJCF names: '' for the first, 'robot2_' for the second."""
    return '' if index == 0 else f'robot{index + 1}_'


def grip_name(index: int, box_body: str) -> str:
    """Name of the weld that holds a box on robot ``index``'s suction pad."""
    return f'grip_{robot_prefix(index)}{box_body}'


def box_body_name(box: Box) -> str:
    """MJCF body name of a box: 'box_red'."""
    return 'box_' + box.color.replace(' ', '_')


def _v(*values: float) -> str:
    return ' '.join(f'{v:.6g}' for v in values)


def _static_box(name: str, rect_center: tuple[float, float], half: tuple[float, float, float],
                rgba: tuple[float, ...], group: int = GROUP_STATIC, collide: bool = True,
                z0: float = 0.0) -> str:
    contact = '' if collide else ' contype="0" conaffinity="0"'
    return (f'    <geom name={quoteattr(name)} type="box" group="{group}"{contact}'
            f' pos="{_v(rect_center[0], rect_center[1], z0 + half[2])}" size="{_v(*half)}"'
            f' rgba="{_v(*rgba)}"/>\n')


def _camera_xyaxes(pitch: float, yaw: float) -> str:
    # MuJoCo cameras look along their -z with +y up; image x = robot's right.
    fwd = (math.cos(pitch) * math.cos(yaw), math.cos(pitch) * math.sin(yaw), -math.sin(pitch))
    right = (math.sin(yaw), -math.cos(yaw), 0.0)
    up = (right[1] * fwd[2] - right[2] * fwd[1], right[2] * fwd[0] - right[0] * fwd[2],
          right[0] * fwd[1] - right[1] * fwd[0])
    return _v(*right, *up)


def _robot(world: World, start: tuple[float, float, float], prefix: str = '',
           shell: bool = False) -> str:
    r = world.robot
    x, y, th = start
    half_l, half_w, half_h = r.chassis_length / 2, r.chassis_width / 2, r.chassis_height / 2
    wy = r.wheel_separation / 2
    wheel_half_width = 0.02
    caster_r = r.chassis_clearance * 0.4
    cam, lid = r.camera.mount, r.lidar.mount
    pad = r.pad_size
    wheels = ''
    for side, sign in (('left', 1), ('right', -1)):
        wheels += (
            f'      <body name="{prefix}{side}_wheel" pos="{_v(0, sign * wy, r.wheel_radius)}">\n'
            f'        <joint name="{prefix}{side}_wheel_joint" type="hinge" axis="0 1 0"'
            f' damping="0.01"/>\n'
            f'        <geom name="{prefix}{side}_wheel" type="cylinder" group="{GROUP_ROBOT}"'
            f' size="{_v(r.wheel_radius, wheel_half_width)}" quat="0.707107 0.707107 0 0"'
            f' mass="1.0" friction="1.5 0.01 0.001" rgba="0.1 0.1 0.1 1"/>\n'
            f'      </body>\n')
    casters = ''.join(
        f'      <geom name="{prefix}caster_{i}" type="sphere" group="{GROUP_ROBOT}"'
        # Frictionless ball casters: priority makes their condim win over the floor's.
        f' condim="1" priority="1"'
        f' size="{_v(caster_r)}" pos="{_v(cx, 0, caster_r)}" mass="0.1" rgba="0.3 0.3 0.3 1"/>\n'
        for i, cx in enumerate((half_l - caster_r - 0.02, -half_l + caster_r + 0.02)))
    # At lidar height, the footprint of the chassis: what other lidars see (mj_ray skips
    # fully transparent geoms, hence the faint alpha; cameras do not render this group).
    outline = (
        f'      <geom name="{prefix}shell" type="box" group="{GROUP_SHELL}" contype="0"'
        f' conaffinity="0" pos="{_v(0, 0, lid.z)}" size="{_v(half_l, half_w, 0.05)}"'
        f' mass="0" rgba="1 1 1 0.01"/>\n') if shell else ''
    return (
        f'    <body name="{prefix}{ROBOT_BODY}" pos="{_v(x, y, 0.0)}" quat="{_v(math.cos(th / 2), 0, 0, math.sin(th / 2))}">\n'  # noqa: E501
        f'      <freejoint name="{prefix}robot_free"/>\n'
        f'{outline}'
        f'      <geom name="{prefix}chassis" type="box" group="{GROUP_ROBOT}"'
        f' pos="{_v(0, 0, r.chassis_clearance + half_h)}" size="{_v(half_l, half_w, half_h)}"'
        f' mass="{_v(r.chassis_mass)}" rgba="0.85 0.85 0.88 1"/>\n'
        f'      <geom name="{prefix}mast" type="box" group="{GROUP_ROBOT}" contype="0"'
        f' conaffinity="0"'
        f' pos="{_v(cam.x - 0.04, cam.y, (cam.z + r.chassis_clearance + r.chassis_height) / 2)}"'
        f' size="{_v(0.02, 0.02, (cam.z - r.chassis_clearance - r.chassis_height) / 2)}"'
        f' mass="0.1" rgba="0.2 0.2 0.2 1"/>\n'
        f'      <geom name="{prefix}{PAD_GEOM}" type="box" group="{GROUP_ROBOT}"'
        f' pos="{_v(r.pad_x, 0, r.pad_z)}" size="{_v(pad[0] / 2, pad[1] / 2, pad[2] / 2)}"'
        f' mass="0.2" friction="1.5 0.01 0.001" rgba="0.15 0.15 0.15 1"/>\n'
        f'{casters}'
        f'      <camera name="{prefix}{CAMERA_NAME}" pos="{_v(cam.x, cam.y, cam.z)}" mode="fixed"'
        f' fovy="{_v(r.camera.fovy_deg)}" xyaxes="{_camera_xyaxes(cam.pitch, cam.yaw)}"/>\n'
        f'      <site name="{prefix}{LIDAR_SITE}" pos="{_v(lid.x, lid.y, lid.z)}" size="0.03"'
        f' group="{GROUP_ROBOT}" rgba="0 0 0 1"/>\n'
        f'{wheels}'
        f'    </body>\n')


def _boxes(world: World, scenario: Scenario | None) -> tuple[str, str, dict[str, bytes],
                                                             dict[str, str]]:
    bodies, assets_xml, assets, names = '', '', {}, {}
    for box in world.boxes:
        body = box_body_name(box)
        names[box.name] = body
        tex = texture_name(box)
        assets[tex] = png_bytes(face_texture(box))
        assets_xml += (f'    <texture name="tex_{body}" type="cube" file="{tex}"/>\n'
                       f'    <material name="mat_{body}" texture="tex_{body}"/>\n')
        x, y, z, yaw = box.x, box.y, box.z, box.yaw
        if scenario is not None and box.name in scenario.boxes:
            p = scenario.boxes[box.name]
            x, y, yaw = p.x, p.y, p.yaw
            z = p.z if p.z is not None else box.size / 2
        h = box.size / 2
        bodies += (
            f'    <body name="{body}" pos="{_v(x, y, z)}"'
            f' quat="{_v(math.cos(yaw / 2), 0, 0, math.sin(yaw / 2))}">\n'
            f'      <freejoint name="{body}_free"/>\n'
            f'      <geom name="{body}" type="box" group="{GROUP_BOX}" size="{_v(h, h, h)}"'
            f' mass="{_v(box.mass)}" material="mat_{body}" friction="1.0 0.01 0.001"/>\n'
            f'    </body>\n')
    return bodies, assets_xml, assets, names


def _box_bodies(world: World) -> list[str]:
    return [box_body_name(box) for box in world.boxes]


def _obstacles(world: World) -> tuple[str, dict[str, list[str]]]:
    xml, slots = '', {}
    for n, kind in enumerate(world.obstacle_kinds.values()):
        slots[kind.name] = []
        for i in range(world.obstacle_slots):
            body = f'obstacle_{kind.name}_{i}'
            slots[kind.name].append(body)
            sx, sy, sz = kind.size
            if kind.shape == 'cylinder':
                geom = f'type="cylinder" size="{_v(sx / 2, sz / 2)}"'
            else:
                geom = f'type="box" size="{_v(sx / 2, sy / 2, sz / 2)}"'
            park = (-20.0 - 3.0 * (n * world.obstacle_slots + i), -20.0, PARK_Z)
            xml += (f'    <body name="{body}" mocap="true" pos="{_v(*park)}">\n'
                    f'      <geom name="{body}" {geom} group="{GROUP_OBSTACLE}"'
                    f' pos="{_v(0, 0, sz / 2)}" rgba="{_v(*kind.rgba)}"/>\n'
                    f'    </body>\n')
    return xml, slots


def build_mjcf(world: World, scenario: Scenario | None = None, timestep: float = 0.002,
               starts: Sequence[tuple[float, float, float]] | None = None) -> MjcfModel:
    """Return the MJCF of ``world`` with the scenario's box placements and robot start.

    ``starts`` places several robots (map x, y, yaw each); None is one robot at the
    scenario's (or the world's) start.
    """
    start = scenario.start if scenario is not None and scenario.start else (
        world.start_pose.x, world.start_pose.y, world.start_pose.theta)
    starts = list(starts) if starts else [start]
    many = len(starts) > 1
    robots = ''.join(_robot(world, tuple(pose), robot_prefix(i), shell=many)
                     for i, pose in enumerate(starts))
    welds = ''.join(
        f'    <weld name="{grip_name(i, b)}" body1="{robot_prefix(i)}{ROBOT_BODY}" body2="{b}"'
        f' active="false"/>\n' for i in range(len(starts)) for b in _box_bodies(world))
    actuators = ''.join(
        f'    <velocity name="{robot_prefix(i)}{name}" joint="{robot_prefix(i)}{joint}" kv="6"'
        f' forcerange="{_v(-WHEEL_FORCE, WHEEL_FORCE)}"/>\n'
        for i in range(len(starts))
        for name, joint in zip(WHEEL_ACTUATORS, (LEFT_WHEEL, RIGHT_WHEEL), strict=True))
    static = ''
    for wall in world.walls:
        static += _static_box(wall.name.replace(' ', '_'), wall.rect.center,
                              (*(s / 2 for s in wall.rect.size), wall.height / 2),
                              (0.75, 0.75, 0.72, 1))
    for shelf in world.shelves:
        ledge, rack = shelf.parts()
        static += _static_box(f'shelf_{shelf.name}_ledge', ledge.center,
                              (*(s / 2 for s in ledge.size), shelf.ledge_height / 2),
                              (0.35, 0.35, 0.4, 1))
        static += _static_box(f'shelf_{shelf.name}_rack', rack.center,
                              (*(s / 2 for s in rack.size), shelf.height / 2),
                              (0.2, 0.35, 0.6, 1))
    for station in world.stations:
        name = station.name.replace(' ', '_')
        static += _static_box(name, station.rect.center,
                              (*(s / 2 for s in station.rect.size), station.height / 2),
                              (0.55, 0.4, 0.3, 1) if station.kind == 'station'
                              else (0.2, 0.6, 0.3, 1))
        if station.drop_zone is not None:
            static += _static_box(name + '_drop_zone', station.drop_zone.center,
                                  (*(s / 2 for s in station.drop_zone.size), 0.0005),
                                  (0.9, 0.9, 0.3, 1), GROUP_MARKING, collide=False)
    for zone in world.keep_out:
        static += _static_box('keep_out_' + zone.name.replace(' ', '_'), zone.rect.center,
                              (*(s / 2 for s in zone.rect.size), 0.0005),
                              (0.9, 0.2, 0.2, 1), GROUP_MARKING, collide=False)
    boxes, box_assets_xml, assets, box_names = _boxes(world, scenario)
    obstacles, slots = _obstacles(world)
    cx, cy = world.bounds.center
    extent = 10.0
    cam = world.robot.camera
    xml = f"""<mujoco model={quoteattr(world.name)}>
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{_v(timestep)}" integrator="implicitfast" cone="pyramidal">
    <!-- Boxes at rest sleep (3x faster steps); contact with an awake body wakes them. -->
    <flag sleep="enable"/>
  </option>
  <statistic extent="{_v(extent)}" center="{_v(cx, cy, 0.5)}"/>
  <visual>
    <global offwidth="{OFFSCREEN[0]}" offheight="{OFFSCREEN[1]}"/>
    <quality shadowsize="0" offsamples="0"/>
    <map znear="{_v(cam.near / extent)}" zfar="{_v(cam.far / extent)}"/>
    <headlight ambient="0.45 0.45 0.45" diffuse="0.4 0.4 0.4" specular="0 0 0"/>
  </visual>
  <asset>
    <material name="floor" rgba="0.62 0.62 0.6 1"/>
{box_assets_xml}  </asset>
  <worldbody>
    <light name="sun" directional="true" castshadow="false" pos="{_v(cx, cy, 6)}" dir="0 0.3 -1"
      diffuse="0.5 0.5 0.5"/>
    <geom name="floor" type="plane" group="{GROUP_STATIC}" size="{_v(cx + 2, cy + 2, 0.1)}"
      pos="{_v(cx, cy, 0)}" material="floor"/>
{static}{robots}{boxes}{obstacles}  </worldbody>
  <equality>
{welds}  </equality>
  <actuator>
{actuators}  </actuator>
</mujoco>
"""  # noqa: E501
    return MjcfModel(xml=xml, assets=assets, box_bodies=box_names, obstacle_slots=slots)
