"""The world description: layout rules the planner, skills and simulator rely on."""

import math

import pytest

from codeact_robot.world import Rect, WorldError, load_scenario, load_world
from codeact_robot.world.model import world_from_dict


@pytest.fixture(scope='module')
def world():
    return load_world()


def test_layout_names_and_size(world):
    assert world.bounds.size == (12.0, 8.0)
    assert [s.name for s in world.shelves] == ['A', 'B', 'C', 'D']
    assert [a.name for a in world.aisles] == ['aisle 1', 'aisle 2', 'aisle 3']
    for name in ('shelf A', 'shelf B', 'shelf C', 'shelf D', 'packing station',
                 'charging dock', 'start'):
        assert name in world.places
    assert world.places['start'].x == world.start_pose.x


def test_aisles_are_wide_enough_and_between_shelves(world):
    for aisle in world.aisles:
        assert min(aisle.rect.size) >= 1.4
        touching = [s for s in world.shelves
                    if math.isclose(s.rect.ymax, aisle.rect.ymin)
                    or math.isclose(s.rect.ymin, aisle.rect.ymax)]
        assert len(touching) == 2, aisle.name
        assert not any(aisle.rect.intersects(o) for o in world.static_obstacles())


def test_aisle_at(world):
    assert world.aisle_at(6.0, 4.0) == 'aisle 2'
    assert world.aisle_at(6.0, 1.9) == 'aisle 1'
    assert world.aisle_at(1.2, 4.0) is None
    assert world.aisle_at(6.0, 3.0) is None  # inside shelf B


def test_boxes_distinct_colours_markers_and_reachable(world):
    colours = {b.color for b in world.boxes}
    assert {'red', 'green', 'blue', 'yellow', 'orange', 'purple'} <= colours
    assert len({b.marker_id for b in world.boxes}) == len(world.boxes)
    assert all(0 <= b.marker_id < 50 for b in world.boxes)
    assert any(b.location == 'floor' for b in world.boxes)
    pad = world.robot
    pad_lo, pad_hi = pad.pad_z - pad.pad_size[2] / 2, pad.pad_z + pad.pad_size[2] / 2
    for box in world.boxes:
        # The suction pad's height band overlaps every box's faces.
        assert box.z - box.size / 2 < pad_hi and box.z + box.size / 2 > pad_lo, box.name
        if box.location.startswith('shelf'):
            shelf = world.shelf(box.location)
            assert shelf.rect.contains(box.x, box.y)
            ledge, _ = shelf.parts()
            assert math.isclose(box.z - box.size / 2, shelf.ledge_height)
            assert ledge.contains(box.x, box.y)


def test_shelf_places_face_their_shelf_and_see_its_boxes(world):
    for shelf in world.shelves:
        place = world.places[shelf.label]
        assert world.aisle_at(place.x, place.y) is not None
        for box in (b for b in world.boxes if b.location == shelf.label):
            bearing = math.atan2(box.y - place.y, box.x - place.x) - place.theta
            bearing = math.atan2(math.sin(bearing), math.cos(bearing))
            # Inside the camera's horizontal half field of view, within grasp range.
            fx, _, cx, _ = world.robot.camera.intrinsics()
            assert abs(bearing) < math.atan(cx / fx), (shelf.name, box.name)
            assert math.hypot(box.x - place.x, box.y - place.y) < 1.5


def test_occupancy_grid(world):
    grid = world.occupancy_grid(resolution=0.1)
    assert grid.shape == (80, 120)
    assert not grid.is_free(6.0, 3.0)  # shelf B
    assert grid.is_free(6.0, 4.0)  # aisle 2
    assert not grid.is_free(0.02, 4.0)  # west wall
    assert not grid.is_free(-1.0, 4.0)  # outside
    row, col = grid.world_to_cell(6.04, 4.01)
    x, y = grid.cell_to_world(row, col)
    assert abs(x - 6.05) < 1e-9 and abs(y - 4.05) < 1e-9
    inflated = world.occupancy_grid(resolution=0.1, inflate=0.3)
    assert inflated.occupied.sum() > grid.occupied.sum()
    assert not inflated.is_free(6.0, 3.35)  # within 0.3 m of shelf B's front
    assert inflated.is_free(6.0, 4.0)  # the aisle middle stays free
    for place in world.places.values():
        assert inflated.is_free(place.x, place.y), place.name
    zone = world.keep_out[0].rect
    assert grid.is_free(*zone.center)
    assert not world.occupancy_grid(0.1, keep_out=True).is_free(*zone.center)


def test_mounts_documented(world):
    assert world.camera_mount.pitch > 0  # looks down at shelf ledges
    assert world.robot.lidar.rays >= 180
    assert world.robot.lidar.fov_deg >= 180
    amin, amax, inc = world.robot.lidar.angles()
    assert math.isclose(amax - amin + inc, 2 * math.pi)


def test_scenarios_load():
    default = load_scenario('default')
    assert default.obstacles == ()
    blocked = load_scenario('blocked_aisle_2')
    (pallet,) = blocked.obstacles
    assert pallet.kind == 'pallet' and pallet.aisle == 'aisle 2'
    world = load_world()
    assert world.aisle_at(pallet.x, pallet.y) == 'aisle 2'
    assert pallet.trigger.fired(0.0, 6.0, 4.0)  # robot inside aisle 2
    assert not pallet.trigger.fired(0.0, 1.2, 4.0)
    assert pallet.trigger.fired(31.0, 1.2, 4.0)


def test_invalid_descriptions_are_rejected(world, tmp_path):
    with pytest.raises(WorldError):
        load_world('no_such_world')
    bad = tmp_path / 'bad.yaml'
    bad.write_text('name: x\nbounds: [0, 0, 1]\n')
    with pytest.raises((WorldError, ValueError)):
        load_world(str(bad))
    with pytest.raises(WorldError):
        world_from_dict({'name': 'x'})
    with pytest.raises(ValueError):
        Rect(1.0, 0.0, 0.0, 1.0)
    scen = tmp_path / 'scen.yaml'
    scen.write_text('name: s\nobstacles:\n  - {name: p, kind: tank, aisle: aisle 2}\n')
    with pytest.raises(WorldError):
        load_scenario(str(scen), world)
