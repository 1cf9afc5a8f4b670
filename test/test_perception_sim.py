"""Perception on real MuJoCo renders of the warehouse, checked against the simulator's truth.

The detector gets what the skills node gets: the camera image, the depth image, the intrinsics
and the odometry pose turned into the map frame with the start pose. Ground truth is only read
to check the answers.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from codeact_robot.api.types import Pose
from codeact_robot.perception import intrinsics
from codeact_robot.sim import WarehouseSim
from codeact_robot.skills.perceive import PerceptionSkill, RgbdFrame
from codeact_robot.world import Scenario, load_world


@pytest.fixture(scope='module')
def world():
    return load_world()


def odom_to_map(start: Pose, x: float, y: float, theta: float) -> Pose:
    """Compose the start pose with an odometry pose, as the skills node does."""
    c, s = math.cos(start.theta), math.sin(start.theta)
    return Pose(start.x + c * x - s * y, start.y + s * x + c * y, start.theta + theta)


def frame_from(sim: WarehouseSim, start: Pose) -> RgbdFrame:
    rgb, depth = sim.render_rgbd()
    odom = sim.odometry()
    return RgbdFrame(rgb, depth, intrinsics(*sim.camera_intrinsics()),
                     odom_to_map(start, odom.x, odom.y, odom.theta))


def sim_at_place(world, name: str) -> tuple[WarehouseSim, Pose]:
    place = world.places[name]
    sim = WarehouseSim(world, Scenario('perception', '', 0, start=(place.x, place.y, place.theta)))
    sim.step_for(0.1)
    return sim, Pose(place.x, place.y, place.theta)


def test_from_shelf_b_the_red_box_is_found_with_its_marker(world):
    sim, start = sim_at_place(world, 'shelf B')
    try:
        detections = PerceptionSkill(world).detect(*frame_from(sim, start))
        truth = sim.box_position('red box')
    finally:
        sim.close()
    red = [d for d in detections if d.color == 'red']
    assert len(red) == 1, detections
    assert red[0].label == 'red box'
    assert red[0].marker_id == world.box('red box').marker_id
    error = math.hypot(red[0].x - truth[0], red[0].y - truth[1])
    print(f'red box map error {error:.3f} m')
    assert error < 0.15
    assert red[0].confidence > 0.8
    assert abs(red[0].bearing) < 0.1  # the shelf B place faces it


def test_every_shelf_box_from_its_shelf_place_nearest_first(world):
    skill = PerceptionSkill(world)
    for shelf in ('shelf A', 'shelf C', 'shelf D'):
        sim, start = sim_at_place(world, shelf)
        try:
            observations = skill.observe(frame_from(sim, start))
            truth = {b.color: (sim.box_position(b.name), b.marker_id)
                     for b in world.boxes if b.location == shelf}
        finally:
            sim.close()
        found = {o.color: o for o in observations}
        assert set(found) == set(truth), (shelf, observations)
        for color, (position, marker_id) in truth.items():
            assert found[color].marker_id == marker_id
            assert math.hypot(found[color].position[0] - position[0],
                              found[color].position[1] - position[1]) < 0.1
        distances = [o.distance for o in observations]
        assert distances == sorted(distances)


def test_blocked_view_and_empty_floor_give_no_detections(world):
    # From the start pose the camera sees the open floor and walls, no box.
    sim, start = sim_at_place(world, 'start')
    try:
        frame = frame_from(sim, start)
    finally:
        sim.close()
    assert np.isfinite(frame.depth).any()
    assert PerceptionSkill(world).detect(*frame) == []


def test_marker_pose_places_the_box_where_depth_has_no_return(world):
    # A depth camera returns nothing beyond its range (or on black paint): the printed marker's
    # pose still places the box.
    sim, start = sim_at_place(world, 'shelf D')
    try:
        frame = frame_from(sim, start)
        truth = sim.box_position('yellow box')
    finally:
        sim.close()
    blind = frame._replace(depth=np.full_like(frame.depth, np.inf))
    observations = PerceptionSkill(world).observe(blind)
    assert len(observations) == 1
    obs = observations[0]
    assert obs.source == 'marker' and obs.marker_id == world.box('yellow box').marker_id
    assert math.hypot(obs.position[0] - truth[0], obs.position[1] - truth[1]) < 0.1


def test_pallet_forklift_and_person_in_view_are_not_boxes(world):
    import cv2

    sim, start = sim_at_place(world, 'start')
    try:
        sim.set_obstacle('pallet 1', 'pallet', x=2.9, y=3.1)
        sim.set_obstacle('forklift 1', 'forklift', x=3.6, y=5.0)
        sim.set_obstacle('person 1', 'person', x=2.6, y=4.3)
        sim.step_for(0.1)
        frame = frame_from(sim, start)
    finally:
        sim.close()
    # Positive control: large coloured objects fill much of the view...
    saturated = cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2HSV)[..., 1] > 100
    assert saturated.sum() > 0.3 * saturated.size
    # ...yet none of them is a box.
    assert PerceptionSkill(world).detect(*frame) == []
