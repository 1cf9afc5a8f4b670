"""Perception on synthetic RGB-D frames ray-cast with numpy/cv2 from known intrinsics and poses."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import pytest

from codeact_robot.api.types import Pose
from codeact_robot.perception import BoxDetector, CameraMount, PerceptionConfig
from codeact_robot.perception.camera import (
    OPTICAL_TO_BODY,
    backproject,
    base_to_map,
    intrinsics_from_fovy,
    map_to_base,
    optical_to_base,
    project,
    rotation_rpy,
)
from codeact_robot.perception.markers import MarkerDetector
from codeact_robot.perception.segmentation import find_blobs

WIDTH, HEIGHT = 320, 240
K = intrinsics_from_fovy(WIDTH, HEIGHT, 60.0)
MOUNT = CameraMount(x=0.2, y=0.0, z=0.6, pitch=0.15)
ARUCO = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)

COLORS = {
    'red': (200, 30, 30), 'orange': (230, 120, 20), 'yellow': (220, 210, 30),
    'green': (40, 170, 60), 'blue': (40, 70, 200), 'purple': (140, 40, 180),
}


@dataclass
class Face:
    """A vertical rectangle facing direction `yaw` (its outward normal), centre in map."""

    center: tuple[float, float, float]
    yaw: float
    width: float
    height: float
    rgb: tuple[int, int, int]
    marker_id: int | None = None
    marker_side: float = 0.12
    horizontal: bool = False  # a top face: width across, height along the yaw direction
    texture: np.ndarray | None = None  # RGB image covering the whole face


def render(faces: list[Face], pose: Pose, mount: CameraMount = MOUNT) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    """Ray-cast faces over a grey floor; return (rgb uint8, depth float32 along optical z)."""
    us, vs = np.meshgrid(np.arange(WIDTH, dtype=float), np.arange(HEIGHT, dtype=float))
    rays_opt = backproject(us.ravel(), vs.ravel(), np.ones(us.size), K)
    rot_map = rotation_rpy(0, 0, pose.theta) @ mount.rotation() @ OPTICAL_TO_BODY
    rays = rays_opt @ rot_map.T
    origin = base_to_map(mount.translation()[None, :], pose)[0]
    depth = np.full(us.size, np.inf)
    rgb = np.zeros((us.size, 3), dtype=np.uint8)
    # floor z = 0, mid grey
    with np.errstate(divide='ignore', invalid='ignore'):
        t_floor = -origin[2] / rays[:, 2]
    hit = np.isfinite(t_floor) & (t_floor > 0)
    depth[hit] = t_floor[hit]
    rgb[hit] = (128, 128, 128)
    for face in faces:
        normal = np.array([math.cos(face.yaw), math.sin(face.yaw), 0.0])
        across = np.array([-math.sin(face.yaw), math.cos(face.yaw), 0.0])
        centre = np.array(face.center)
        up = np.array([0.0, 0.0, 1.0])
        if face.horizontal:
            normal, up = up, normal
        denom = rays @ normal
        with np.errstate(divide='ignore', invalid='ignore'):
            t = ((centre - origin) @ normal) / denom
        points = origin + rays * t[:, None]
        s = (points - centre) @ across
        h = (points - centre) @ up
        inside = (np.isfinite(t) & (t > 0) & (np.abs(s) <= face.width / 2)
                  & (np.abs(h) <= face.height / 2) & (t < depth))
        depth[inside] = t[inside]
        rgb[inside] = face.rgb
        if face.texture is not None:
            size = face.texture.shape[0]
            col = np.clip(((s / face.width + 0.5) * size).astype(int), 0, size - 1)
            row = np.clip(((0.5 - h / face.height) * size).astype(int), 0, size - 1)
            rgb[inside] = face.texture[row[inside], col[inside]]
        if face.marker_id is not None:
            # A white quiet zone, then the marker cells, centred on the face.
            img = cv2.aruco.generateImageMarker(ARUCO, face.marker_id, 60)
            img = cv2.copyMakeBorder(img, 10, 10, 10, 10, cv2.BORDER_CONSTANT, value=255)
            side = face.marker_side * 80 / 60
            # Seen from the front (looking along -normal), s grows to the viewer's right.
            col = ((s + side / 2) / side * 80).astype(int)
            row = ((-h + side / 2) / side * 80).astype(int)
            on = inside & (col >= 0) & (col < 80) & (row >= 0) & (row < 80)
            rgb[on] = img[row[on], col[on]][:, None]
    depth[~np.isfinite(depth)] = np.nan
    return rgb.reshape(HEIGHT, WIDTH, 3), depth.reshape(HEIGHT, WIDTH).astype(np.float32)


def box_face(x: float, y: float, color: str, pose: Pose, marker_id: int | None = None,
             size: float = 0.3) -> Face:
    """A box front face at (x, y) turned towards the robot."""
    yaw = math.atan2(pose.y - y, pose.x - x)
    return Face((x, y, size / 2), yaw, size, size, COLORS[color], marker_id)


def warehouse_box(x: float, y: float, color: str, marker_id: int, pose: Pose,
                  bottom: float = 0.08) -> list[Face]:
    """Front and top faces of a cube textured like the warehouse's (colour frame, marker)."""
    from dataclasses import replace

    from codeact_robot.world import load_world
    from codeact_robot.world.markers import face_texture

    template = load_world().boxes[0]
    rgba = tuple(c / 255 for c in COLORS[color]) + (1.0,)
    texture = face_texture(replace(template, color=color, rgba=rgba, marker_id=marker_id))
    size = template.size
    yaw = math.atan2(pose.y - y, pose.x - x)
    front = (x + math.cos(yaw) * size / 2, y + math.sin(yaw) * size / 2, bottom + size / 2)
    return [Face(front, yaw, size, size, COLORS[color], texture=texture),
            Face((x, y, bottom + size), yaw, size, size, COLORS[color], texture=texture,
                 horizontal=True)]


def solid_box(x: float, y: float, color: str, pose: Pose, size: float = 0.2,
              bottom: float = 0.0) -> list[Face]:
    """Front and top faces of a cube facing the robot, as a downward-looking camera sees it."""
    yaw = math.atan2(pose.y - y, pose.x - x)
    front = (x + math.cos(yaw) * size / 2, y + math.sin(yaw) * size / 2, bottom + size / 2)
    rgb = COLORS[color]
    top_rgb = tuple(int(c * 0.8) for c in rgb)  # lit differently, same hue
    return [Face(front, yaw, size, size, rgb),
            Face((x, y, bottom + size), yaw, size, size, top_rgb, horizontal=True)]


def test_projection_roundtrip():
    pose = Pose(1.0, -2.0, 0.7)
    pts_map = np.array([[3.0, -1.0, 0.2], [2.5, -2.5, 0.9]])
    pts_base = map_to_base(pts_map, pose)
    uv = project(pts_base, MOUNT, K)
    rot = MOUNT.rotation() @ OPTICAL_TO_BODY
    z = ((pts_base - MOUNT.translation()) @ rot)[:, 2]
    back = base_to_map(optical_to_base(backproject(uv[:, 0], uv[:, 1], z, K), MOUNT), pose)
    np.testing.assert_allclose(back, pts_map, atol=1e-9)
    # a point behind the camera has no pixel
    assert np.isnan(project(np.array([[-1.0, 0.0, 0.5]]), MOUNT, K)).all()


def test_camera_mount_from_mapping_and_object():
    mount = CameraMount.from_any({'xyz': [0.1, 0.0, 0.5], 'rpy': [0.0, 0.2, 0.0]})
    assert mount == CameraMount(0.1, 0.0, 0.5, 0.0, 0.2, 0.0)

    class WorldMount:
        x, y, z, pitch = 0.3, 0.0, 0.4, 0.1

    assert CameraMount.from_any(WorldMount()) == CameraMount(0.3, 0.0, 0.4, 0.0, 0.1, 0.0)


def test_six_colours_found_at_their_map_positions():
    pose = Pose(1.0, 0.5, 0.3)
    truth = {'red': (3.0, 1.3), 'orange': (3.2, 0.6), 'yellow': (2.8, 2.0),
             'green': (3.6, 1.8), 'blue': (3.3, 0.1), 'purple': (4.2, 1.1)}
    rgb, depth = render([box_face(x, y, c, pose) for c, (x, y) in truth.items()], pose)
    detector = BoxDetector(MOUNT)
    found = detector.detect(rgb, depth, K, pose)
    assert sorted(d.color for d in found) == sorted(truth)
    for det in found:
        tx, ty = truth[det.color]
        assert math.hypot(det.x - tx, det.y - ty) < 0.05, det
        assert det.label == f'{det.color} box'
        assert det.marker_id is None
        expected_bearing = math.atan2(ty - pose.y, tx - pose.x) - pose.theta
        assert abs(det.bearing - expected_bearing) < 0.03
    distances = [d.distance for d in found]
    assert distances == sorted(distances)


def test_marker_is_associated_with_its_box_and_raises_confidence():
    pose = Pose(0.0, 0.0, 0.0)
    faces = [box_face(1.6, 0.25, 'red', pose, marker_id=7),
             box_face(1.6, -0.25, 'blue', pose)]
    rgb, depth = render(faces, pose)
    markers = MarkerDetector().detect(rgb)
    assert [m.marker_id for m in markers] == [7]
    found = {d.color: d for d in BoxDetector(MOUNT).detect(rgb, depth, K, pose)}
    assert found['red'].marker_id == 7
    assert found['blue'].marker_id is None
    assert found['red'].confidence > found['blue'].confidence
    assert 0.0 < found['blue'].confidence <= 1.0
    assert math.hypot(found['red'].x - 1.6, found['red'].y - 0.25) < 0.05


def test_box_half_depth_moves_the_estimate_behind_the_visible_face():
    pose = Pose(0.0, 0.0, 0.0)
    rgb, depth = render([box_face(2.0, 0.0, 'green', pose)], pose)
    config = PerceptionConfig(box_half_depth=0.15)
    obs = BoxDetector(MOUNT, config).observe(rgb, depth, K, pose)[0]
    assert abs(obs.face[0] - 2.0) < 0.03
    assert abs(obs.position[0] - 2.15) < 0.03
    assert obs.distance - obs.face_distance == pytest.approx(0.15, abs=0.01)


def test_marker_pose_is_used_when_depth_is_missing():
    pose = Pose(0.0, 0.0, 0.0)
    rgb, depth = render([box_face(1.2, 0.0, 'yellow', pose, marker_id=3)], pose)
    depth[:] = np.nan
    assert BoxDetector(MOUNT).observe(rgb, depth, K, pose) == []
    config = PerceptionConfig(marker_side=0.12)
    obs = BoxDetector(MOUNT, config).observe(rgb, depth, K, pose)
    assert len(obs) == 1 and obs[0].source == 'marker' and obs[0].marker_id == 3
    assert math.hypot(obs[0].position[0] - 1.2, obs[0].position[1]) < 0.05


def test_marker_on_a_grey_surface_is_reported_as_a_marker():
    pose = Pose(0.0, 0.0, 0.0)
    rgb, depth = render([Face((1.5, 0.0, 0.6), math.pi, 0.3, 0.3, (200, 200, 200), 12)], pose)
    found = BoxDetector(MOUNT).detect(rgb, depth, K, pose)
    assert [(d.label, d.color, d.marker_id) for d in found] == [('marker 12', '', 12)]


def test_grey_scene_has_no_detections_and_small_specks_are_ignored():
    pose = Pose(0.0, 0.0, 0.0)
    rgb, depth = render([], pose)
    rgb[100:103, 100:103] = COLORS['red']  # 9 px speck
    assert find_blobs(rgb) == []
    assert BoxDetector(MOUNT).detect(rgb, depth, K, pose) == []


def test_target_matching():
    pose = Pose(0.0, 0.0, 0.0)
    rgb, depth = render([box_face(1.6, 0.0, 'purple', pose, marker_id=4)], pose)
    obs = BoxDetector(MOUNT).observe(rgb, depth, K, pose)[0]
    for target in ('purple', 'Purple box', 'marker 4', '4', ' purple '):
        assert obs.matches(target), target
    for target in ('red', 'marker 5', 'box', ''):
        assert not obs.matches(target), target


def test_depth_at_another_resolution_is_resampled_unregistered_is_rejected():
    pose = Pose(0.0, 0.0, 0.0)
    rgb, depth = render([box_face(1.5, 0.2, 'orange', pose)], pose)
    half = depth[::2, ::2].copy()  # a registered depth camera at half resolution
    found = BoxDetector(MOUNT).detect(rgb, half, K, pose)
    assert len(found) == 1 and math.hypot(found[0].x - 1.5, found[0].y - 0.2) < 0.05
    with pytest.raises(ValueError, match='aspect ratio'):
        BoxDetector(MOUNT).observe(rgb, np.zeros((10, 10), np.float32), K, pose)


def test_box_centre_from_front_face_when_the_top_is_visible_too():
    pose = Pose(0.0, 0.0, 0.0)
    faces = solid_box(1.0, 0.1, 'orange', pose, bottom=0.08)
    rgb, depth = render(faces, pose)
    config = PerceptionConfig(box_half_depth=0.1)
    obs = BoxDetector(MOUNT, config).observe(rgb, depth, K, pose)
    assert len(obs) == 1
    assert math.hypot(obs[0].position[0] - 1.0, obs[0].position[1] - 0.1) < 0.04, obs[0]
    # the face the gripper must reach, not the top behind it
    expected_face = math.hypot(1.0 - 0.1 * math.cos(math.atan2(0.1, 1.0)), 0.1 * 0.9)
    assert abs(obs[0].face_distance - expected_face) < 0.04


def test_floor_markings_are_not_boxes():
    pose = Pose(0.0, 0.0, 0.0)
    marking = Face((1.6, -0.4, 0.001), 0.0, 0.3, 0.3, COLORS['red'], horizontal=True)
    rgb, depth = render([marking, *solid_box(1.2, 0.4, 'red', pose)], pose)
    assert len(find_blobs(rgb)) == 2
    found = BoxDetector(MOUNT).detect(rgb, depth, K, pose)
    assert len(found) == 1 and abs(found[0].y - 0.4) < 0.05


def test_dull_colours_like_the_shelf_racks_are_ignored():
    pose = Pose(0.0, 0.0, 0.0)
    rack_blue = (51, 89, 153)  # the warehouse racks: blue hue, saturation 0.67
    rgb, depth = render([Face((2.0, 0.0, 0.6), math.pi, 3.0, 1.2, rack_blue),
                         *solid_box(1.5, 0.0, 'blue', pose, bottom=0.08)], pose)
    found = BoxDetector(MOUNT).detect(rgb, depth, K, pose)
    assert [d.color for d in found] == ['blue']


def test_large_coloured_objects_are_not_boxes():
    pose = Pose(0.0, 0.0, 0.0)
    pallet = Face((2.5, 0.0, 0.45), math.pi, 1.0, 0.9, COLORS['orange'])
    rgb, depth = render([pallet, *solid_box(1.5, 0.6, 'red', pose)], pose)
    found = BoxDetector(MOUNT).detect(rgb, depth, K, pose)
    assert [d.color for d in found] == ['red']


def test_perception_skill_takes_mount_and_box_size_from_the_world():
    from codeact_robot.skills.perceive import PerceptionSkill, RgbdFrame
    from codeact_robot.world import load_world

    world = load_world()
    skill = PerceptionSkill(world)
    mount = world.camera_mount
    assert skill.detector.mount == CameraMount(mount.x, mount.y, mount.z, mount.roll,
                                               mount.pitch, mount.yaw)
    assert skill.detector.config.box_half_depth == pytest.approx(world.boxes[0].size / 2)
    pose = Pose(0.0, 0.0, 0.0)
    faces = [box_face(1.2, 0.3, 'red', pose, marker_id=1), box_face(1.0, -0.3, 'red', pose)]
    rgb, depth = render(faces, pose, skill.detector.mount)
    frame = RgbdFrame(rgb, depth, K, pose)
    assert skill.find(frame, 'marker 1').marker_id == 1
    assert skill.find(frame, 'red').marker_id is None  # the nearer red box
    assert skill.find(frame, 'blue box') is None


@pytest.mark.parametrize('target, expected', [
    ('red', 'red'), ('Red Box', 'red'), ('marker 3', 'marker 3'), ('7', 'marker 7'),
    (7, 'marker 7'), ('  purple  ', 'purple'),
])
def test_parse_target_accepts_colours_labels_and_markers(target, expected):
    from codeact_robot.skills.perceive import parse_target

    assert parse_target(target) == expected


@pytest.mark.parametrize('target', ['', 'box', 'pink', 'marker 50', '-1', None, 3.0, True,
                                    ['red']])
def test_parse_target_rejects_everything_else_with_a_hint(target):
    from codeact_robot.skills.perceive import InvalidTargetError, parse_target

    with pytest.raises(InvalidTargetError, match='red|target must be'):
        parse_target(target)


@pytest.mark.parametrize('distance', [0.6, 1.0, 2.0, 3.5])
def test_warehouse_textured_boxes_are_found_near_and_far(distance):
    # The warehouse boxes show only a thin colour frame around a white marker field.
    from codeact_robot.world import load_world

    mount = CameraMount.from_any(load_world().camera_mount)
    pose = Pose(0.0, 0.0, 0.0)
    faces = warehouse_box(distance, 0.0, 'red', 1, pose) + warehouse_box(
        distance + 0.5, 0.3 * distance + 0.2, 'purple', 6, pose)
    rgb, depth = render(faces, pose, mount)
    config = PerceptionConfig(box_half_depth=0.1)
    found = {o.color: o for o in BoxDetector(mount, config).observe(rgb, depth, K, pose)}
    assert set(found) == {'red', 'purple'}
    assert math.hypot(found['red'].position[0] - distance, found['red'].position[1]) < 0.06
    if distance <= 2.0:
        assert found['red'].marker_id == 1 and found['purple'].marker_id == 6


def test_marker_on_a_shaded_side_face_joins_the_box_beside_it():
    pose = Pose(0.0, 0.0, 0.0)
    front = Face((1.5, 0.0, 0.15), math.pi, 0.3, 0.3, COLORS['green'])
    side = Face((1.5, -0.3, 0.15), math.pi, 0.3, 0.3, (90, 90, 90), marker_id=9)
    rgb, depth = render([front, side], pose)
    found = BoxDetector(MOUNT).detect(rgb, depth, K, pose)
    assert [(d.label, d.marker_id) for d in found] == [('green box', 9)]


@pytest.mark.parametrize('turn', [0.0, 0.3, -0.45])
def test_face_normal_of_a_turned_box(turn):
    pose = Pose(0.5, 0.2, 0.4)
    face_yaw = pose.theta + math.pi + turn  # facing the robot, then turned
    front = Face((2.0, 0.9, 0.15), face_yaw, 0.3, 0.3, COLORS['yellow'])
    rgb, depth = render([front], pose)
    obs = BoxDetector(MOUNT).observe(rgb, depth, K, pose)
    assert len(obs) == 1 and obs[0].face_yaw is not None
    assert abs(math.remainder(obs[0].face_yaw - face_yaw, 2 * math.pi)) < 0.03


def test_no_face_normal_for_a_corner_seen_at_45_degrees():
    pose = Pose(0.0, 0.0, 0.0)
    # two faces of a cube meeting at the near corner (1.5, 0), each turned 45 degrees
    size = 0.3
    faces = [Face((1.5 + size / 2 * math.cos(a + math.pi / 2) * s,
                   size / 2 * math.sin(a + math.pi / 2) * s, 0.15), a, size, size,
                  COLORS['blue']) for a, s in ((math.pi - math.pi / 4, -1),
                                               (math.pi + math.pi / 4, 1))]
    rgb, depth = render(faces, pose)
    obs = BoxDetector(MOUNT).observe(rgb, depth, K, pose)
    assert len(obs) == 1
    assert obs[0].face_yaw is None
