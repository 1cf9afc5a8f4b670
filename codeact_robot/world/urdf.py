"""URDF of the robot, generated from the world description's robot block.

For robot_state_publisher and RViz/Foxglove on a ROS installation: the chassis, the two drive
wheels (continuous joints named as in /joint_states), the suction pad and the sensor frames of
``world/frames.py`` as fixed joints, so the tree it publishes is the one the simulator's
/tf_static describes. ``scripts/generate_gazebo.py`` writes it to ``sim/gazebo/robot.urdf``.
"""

from __future__ import annotations

from codeact_robot.world.frames import BASE_FRAME, fixed_frames
from codeact_robot.world.geometry import Mount
from codeact_robot.world.model import RobotSpec, World

ROBOT_NAME = 'codeact_amr'


def _n(value: float) -> str:
    return f'{value:.6g}'


def _origin(x: float = 0.0, y: float = 0.0, z: float = 0.0, roll: float = 0.0,
            pitch: float = 0.0, yaw: float = 0.0) -> str:
    return (f'<origin xyz="{_n(x)} {_n(y)} {_n(z)}" '
            f'rpy="{_n(roll)} {_n(pitch)} {_n(yaw)}"/>')


def _mount_origin(m: Mount) -> str:
    return _origin(m.x, m.y, m.z, m.roll, m.pitch, m.yaw)


def _box_link(name: str, size: tuple[float, float, float], origin: str, rgba: str,
              mass: float | None = None) -> str:
    geometry = f'<geometry><box size="{" ".join(_n(s) for s in size)}"/></geometry>'
    inertial = ''
    if mass is not None:
        lx, ly, lz = size
        inertial = (f'\n    <inertial>{origin}<mass value="{_n(mass)}"/>'
                    f'<inertia ixx="{_n(mass * (ly**2 + lz**2) / 12)}" ixy="0" ixz="0" '
                    f'iyy="{_n(mass * (lx**2 + lz**2) / 12)}" iyz="0" '
                    f'izz="{_n(mass * (lx**2 + ly**2) / 12)}"/></inertial>')
    return (f'  <link name="{name}">\n'
            f'    <visual>{origin}{geometry}<material name="{name}_colour">'
            f'<color rgba="{rgba}"/></material></visual>\n'
            f'    <collision>{origin}{geometry}</collision>{inertial}\n'
            f'  </link>\n')


def build_urdf(world: World) -> str:
    """Return the robot's URDF (one string, deterministic) for ``world``'s robot block."""
    r: RobotSpec = world.robot
    body_origin = _origin(z=r.chassis_clearance + r.chassis_height / 2)
    parts = [f'<?xml version="1.0"?>\n<!-- Generated from sim/worlds/{world.name}.yaml by '
             f'scripts/generate_gazebo.py; do not edit. -->\n<robot name="{ROBOT_NAME}">\n',
             _box_link(BASE_FRAME, (r.chassis_length, r.chassis_width, r.chassis_height),
                       body_origin, '0.85 0.85 0.88 1', r.chassis_mass)]
    wheel_width = 0.04
    for side, sign in (('left', 1.0), ('right', -1.0)):
        cylinder = f'<geometry><cylinder radius="{_n(r.wheel_radius)}" ' \
                   f'length="{_n(wheel_width)}"/></geometry>'
        axis_origin = _origin(roll=-1.5707963267948966)
        parts.append(f'  <link name="{side}_wheel">\n'
                     f'    <visual>{axis_origin}{cylinder}<material name="wheel">'
                     f'<color rgba="0.1 0.1 0.1 1"/></material></visual>\n'
                     f'    <collision>{axis_origin}{cylinder}</collision>\n  </link>\n'
                     f'  <joint name="{side}_wheel_joint" type="continuous">\n'
                     f'    <parent link="{BASE_FRAME}"/><child link="{side}_wheel"/>\n'
                     f'    {_origin(y=sign * r.wheel_separation / 2, z=r.wheel_radius)}'
                     f'<axis xyz="0 1 0"/>\n  </joint>\n')
    parts.append(_box_link('suction_pad', r.pad_size, _origin(), '0.2 0.2 0.2 1'))
    parts.append(f'  <joint name="suction_pad_joint" type="fixed">\n'
                 f'    <parent link="{BASE_FRAME}"/><child link="suction_pad"/>\n'
                 f'    {_origin(x=r.pad_x, z=r.pad_z)}\n  </joint>\n')
    for frame in fixed_frames(r):
        parts.append(f'  <link name="{frame.child}"/>\n'
                     f'  <joint name="{frame.child}_joint" type="fixed">\n'
                     f'    <parent link="{frame.parent}"/><child link="{frame.child}"/>\n'
                     f'    {_mount_origin(frame.mount)}\n  </joint>\n')
    parts.append('</robot>\n')
    return ''.join(parts)
