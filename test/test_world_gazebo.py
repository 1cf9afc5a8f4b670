"""The Gazebo SDF and bridge config agree with the world description and the MJCF."""

import importlib.util
import xml.etree.ElementTree as ET
from pathlib import Path

import mujoco
import numpy as np
import pytest
import yaml

from codeact_robot.resources import share_path
from codeact_robot.world import load_world
from codeact_robot.world.mjcf import GROUP_MARKING, GROUP_STATIC, build_mjcf
from codeact_robot.world.sdf import ROBOT_MODEL, bridge_config, build_sdf


def _script():
    path = Path(__file__).resolve().parent.parent / 'scripts' / 'generate_gazebo.py'
    spec = importlib.util.spec_from_file_location('generate_gazebo', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def world():
    return load_world()


def sdf_models(text):
    """{model name: (pose xyz, box size or None)} of the SDF world."""
    root = ET.fromstring(text)
    models = {}
    for model in root.find('world').findall('model'):
        pose = model.find('pose')
        xyz = [float(v) for v in pose.text.split()[:3]] if pose is not None else [0, 0, 0]
        size = model.find('link/visual/geometry/box/size')
        dims = np.array([float(v) for v in size.text.split()]) if size is not None else None
        models[model.get('name')] = (np.array(xyz), dims)
    return models


def mjcf_objects(world):
    """{name: (centre, full size or None)} of the compiled MuJoCo model's objects."""
    mj = build_mjcf(world)
    model = mujoco.MjModel.from_xml_string(mj.xml, mj.assets)
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    objects = {}
    for g in range(model.ngeom):
        if model.geom_bodyid[g] == 0 and model.geom_group[g] in (GROUP_STATIC, GROUP_MARKING):
            name = model.geom(g).name
            if name != 'floor':
                objects[name] = (model.geom_pos[g].copy(), 2 * model.geom_size[g])
    for body in [*mj.box_bodies.values(), *(b for v in mj.obstacle_slots.values() for b in v)]:
        objects[body] = (data.body(body).xpos.copy(), None)
    return objects


def test_sdf_and_mjcf_have_the_same_objects_at_the_same_places(world):
    sdf = sdf_models(build_sdf(world))
    mjcf = mjcf_objects(world)
    assert set(sdf) - {'floor', ROBOT_MODEL} == set(mjcf)
    for name, (pos, size) in mjcf.items():
        sdf_pos, sdf_size = sdf[name]
        if name.startswith('obstacle_'):
            # MJCF obstacle bodies sit on the floor (geom raised by half a height), like SDF.
            assert np.allclose(sdf_pos, pos, atol=1e-4), name
            continue
        if size is not None:
            assert np.allclose(sdf_pos, pos, atol=1e-4), name
            assert np.allclose(sdf_size, size, atol=1e-4), name
        else:
            assert np.allclose(sdf_pos[:2], pos[:2], atol=1e-3), name  # boxes (settled in MJCF)
    box_names = {n for n in sdf if n.startswith('box_')}
    assert len(box_names) == len(world.boxes) >= 6


def test_sdf_robot_matches_the_description(world):
    root = ET.fromstring(build_sdf(world))
    robot = [m for m in root.find('world').findall('model') if m.get('name') == ROBOT_MODEL][0]
    plugin = robot.find("plugin[@name='gz::sim::systems::DiffDrive']")
    assert float(plugin.find('wheel_radius').text) == world.robot.wheel_radius
    assert float(plugin.find('wheel_separation').text) == world.robot.wheel_separation
    lidar = robot.find("link/sensor[@type='gpu_lidar']")
    assert int(lidar.find('lidar/scan/horizontal/samples').text) == world.robot.lidar.rays
    assert lidar.find('topic').text == 'scan'
    cam = robot.find("link/sensor[@type='rgbd_camera']")
    assert int(cam.find('camera/image/width').text) == world.robot.camera.width
    pose = [float(v) for v in cam.find('pose').text.split()]
    m = world.camera_mount
    assert pose == pytest.approx([m.x, m.y, m.z, m.roll, m.pitch, m.yaw])


def test_bridge_uses_the_simulator_topic_names(world):
    entries = yaml.safe_load(bridge_config(world))
    ros_topics = {e['ros_topic_name'] for e in entries}
    assert {'/clock', '/cmd_vel', '/odom', '/scan', '/camera/image_raw', '/camera/camera_info',
            '/camera/depth/image_raw', '/joint_states'} <= ros_topics
    for e in entries:
        assert e['direction'] in ('GZ_TO_ROS', 'ROS_TO_GZ', 'BIDIRECTIONAL')
        assert e['ros_type_name'].count('/') == 2 and e['gz_type_name'].startswith('gz.msgs.')
    cmd = next(e for e in entries if e['ros_topic_name'] == '/cmd_vel')
    assert cmd['direction'] == 'ROS_TO_GZ'


def test_committed_gazebo_files_are_up_to_date(world, capsys):
    script = _script()
    out = share_path('sim', 'gazebo')
    status = script.main(['--check', '--out', str(out)])
    assert status == 0, capsys.readouterr().err
    assert (out / 'warehouse.sdf').is_file() and (out / 'bridge.yaml').is_file()
    # The check notices a stale file.
    text = (out / 'bridge.yaml').read_text()
    assert script.same_content(out / 'bridge.yaml', text.encode())
    assert not script.same_content(out / 'bridge.yaml', (text + '#').encode())
