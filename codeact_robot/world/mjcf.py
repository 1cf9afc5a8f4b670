"""Generate the MuJoCo model (MJCF) of a World at load time, so it cannot drift from the YAML.

Geom groups: 0 static world, 1 boxes, 2 dynamic obstacles, 3 robot, 4 floor markings (visual).
The lidar sees groups 0-2; the camera renders 0, 1, 2 and 4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from xml.sax.saxutils import quoteattr

from codeact_robot.world.markers import face_texture, png_bytes, texture_name
from codeact_robot.world.model import Box, World
from codeact_robot.world.scenario import Scenario

GROUP_STATIC, GROUP_BOX, GROUP_OBSTACLE, GROUP_ROBOT, GROUP_MARKING = 0, 1, 2, 3, 4
ROBOT_BODY = 'base_link'
LEFT_WHEEL, RIGHT_WHEEL = 'left_wheel_joint', 'right_wheel_joint'
CAMERA_NAME, LIDAR_SITE, PAD_GEOM = 'camera', 'lidar', 'suction_pad'
PARK_Z = -5.0  # unused obstacles wait below the floor, out of sight and out of the lidar plane
OFFSCREEN = (1280, 960)  # largest camera image the model can render


@dataclass(frozen=True)
class MjcfModel:
    """MJCF text plus the in-memory assets (textures) it references, and its naming."""

    xml: str
    assets: dict[str, bytes]
    box_bodies: dict[str, str]  # box name -> body name
    obstacle_slots: dict[str, list[str]] = field(default_factory=dict)  # kind -> mocap bodies


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


def _robot(world: World, start: tuple[float, float, float]) -> str:
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
            f'      <body name="{side}_wheel" pos="{_v(0, sign * wy, r.wheel_radius)}">\n'
            f'        <joint name="{side}_wheel_joint" type="hinge" axis="0 1 0"'
            f' damping="0.01"/>\n'
            f'        <geom name="{side}_wheel" type="cylinder" group="{GROUP_ROBOT}"'
            f' size="{_v(r.wheel_radius, wheel_half_width)}" quat="0.707107 0.707107 0 0"'
            f' mass="1.0" friction="1.5 0.01 0.001" rgba="0.1 0.1 0.1 1"/>\n'
            f'      </body>\n')
    casters = ''.join(
        f'      <geom name="caster_{i}" type="sphere" group="{GROUP_ROBOT}"'
        # Frictionless ball casters: priority makes their condim win over the floor's.
        f' condim="1" priority="1"'
        f' size="{_v(caster_r)}" pos="{_v(cx, 0, caster_r)}" mass="0.1" rgba="0.3 0.3 0.3 1"/>\n'
        for i, cx in enumerate((half_l - caster_r - 0.02, -half_l + caster_r + 0.02)))
    return (
        f'    <body name="{ROBOT_BODY}" pos="{_v(x, y, 0.0)}" quat="{_v(math.cos(th / 2), 0, 0, math.sin(th / 2))}">\n'  # noqa: E501
        f'      <freejoint name="robot_free"/>\n'
        f'      <geom name="chassis" type="box" group="{GROUP_ROBOT}"'
        f' pos="{_v(0, 0, r.chassis_clearance + half_h)}" size="{_v(half_l, half_w, half_h)}"'
        f' mass="{_v(r.chassis_mass)}" rgba="0.85 0.85 0.88 1"/>\n'
        f'      <geom name="mast" type="box" group="{GROUP_ROBOT}" contype="0" conaffinity="0"'
        f' pos="{_v(cam.x - 0.04, cam.y, (cam.z + r.chassis_clearance + r.chassis_height) / 2)}"'
        f' size="{_v(0.02, 0.02, (cam.z - r.chassis_clearance - r.chassis_height) / 2)}"'
        f' mass="0.1" rgba="0.2 0.2 0.2 1"/>\n'
        f'      <geom name="{PAD_GEOM}" type="box" group="{GROUP_ROBOT}"'
        f' pos="{_v(r.pad_x, 0, r.pad_z)}" size="{_v(pad[0] / 2, pad[1] / 2, pad[2] / 2)}"'
        f' mass="0.2" friction="1.5 0.01 0.001" rgba="0.15 0.15 0.15 1"/>\n'
        f'{casters}'
        f'      <camera name="{CAMERA_NAME}" pos="{_v(cam.x, cam.y, cam.z)}" mode="fixed"'
        f' fovy="{_v(r.camera.fovy_deg)}" xyaxes="{_camera_xyaxes(cam.pitch, cam.yaw)}"/>\n'
        f'      <site name="{LIDAR_SITE}" pos="{_v(lid.x, lid.y, lid.z)}" size="0.03"'
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


def build_mjcf(world: World, scenario: Scenario | None = None,
               timestep: float = 0.002) -> MjcfModel:
    """Return the MJCF of ``world`` with the scenario's box placements and robot start."""
    start = scenario.start if scenario is not None and scenario.start else (
        world.start_pose.x, world.start_pose.y, world.start_pose.theta)
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
    # N m per wheel: ~3 m/s^2 for the ~20 kg robot, below the wheels' friction limit
    wheel_force = 2.0
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
{static}{_robot(world, start)}{boxes}{obstacles}  </worldbody>
  <equality>
{''.join(f'    <weld name="grip_{b}" body1="{ROBOT_BODY}" body2="{b}" active="false"/>{chr(10)}'
         for b in box_names.values())}  </equality>
  <actuator>
    <velocity name="left_wheel" joint="{LEFT_WHEEL}" kv="6" forcerange="{_v(-wheel_force, wheel_force)}"/>
    <velocity name="right_wheel" joint="{RIGHT_WHEEL}" kv="6" forcerange="{_v(-wheel_force, wheel_force)}"/>
  </actuator>
</mujoco>
"""  # noqa: E501
    return MjcfModel(xml=xml, assets=assets, box_bodies=box_names, obstacle_slots=slots)
