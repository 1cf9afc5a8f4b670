"""map_server maps (YAML + PGM): written from the world, read back, planned on (ROS-free)."""

from __future__ import annotations

import numpy as np
import pytest

from codeact_robot.skills.navigator import Navigator
from codeact_robot.world import load_world
from codeact_robot.world.map_file import MapFileError, load_map_yaml, save_map_yaml

WORLD = load_world('warehouse')


def test_a_saved_map_reads_back_cell_for_cell(tmp_path):
    grid = WORLD.occupancy_grid(resolution=0.05)
    path = save_map_yaml(grid, tmp_path / 'warehouse.yaml')
    assert (tmp_path / 'warehouse.pgm').is_file()
    back = load_map_yaml(path)
    assert back.shape == grid.shape and back.resolution == grid.resolution
    assert back.origin == pytest.approx(grid.origin)
    assert np.array_equal(back.occupied, grid.occupied)
    assert grid.occupied.any() and not grid.occupied.all()


def test_unknown_cells_are_not_free_and_negate_is_honoured(tmp_path):
    # Three columns: free (254), unknown (205, map_saver's grey), occupied (0).
    import cv2

    cv2.imwrite(str(tmp_path / 'm.pgm'), np.array([[254, 205, 0]], dtype=np.uint8))
    (tmp_path / 'm.yaml').write_text('image: m.pgm\nresolution: 0.1\norigin: [1.0, 2.0, 0.0]\n'
                                     'occupied_thresh: 0.65\nfree_thresh: 0.196\n')
    grid = load_map_yaml(tmp_path / 'm.yaml')
    assert grid.occupied.tolist() == [[False, True, True]]
    assert grid.origin == (1.0, 2.0) and grid.is_free(1.05, 2.05)
    (tmp_path / 'n.yaml').write_text('image: m.pgm\nresolution: 0.1\norigin: [0, 0, 0]\n'
                                     'negate: 1\n')
    assert load_map_yaml(tmp_path / 'n.yaml').occupied.tolist() == [[True, True, False]]


@pytest.mark.parametrize('text, message', [
    ('image: m.pgm\nresolution: 0.05\n', 'lacks origin'),
    ('image: m.pgm\nresolution: 0.05\norigin: [0, 0, 0.5]\n', 'rotated'),
    ('image: nowhere.pgm\nresolution: 0.05\norigin: [0, 0, 0]\n', 'cannot read the image'),
    ('image: m.pgm\nresolution: 0.05\norigin: [0, 0, 0]\nmode: raw\n', 'mode'),
])
def test_a_map_the_robot_cannot_use_is_refused_with_the_reason(tmp_path, text, message):
    import cv2

    cv2.imwrite(str(tmp_path / 'm.pgm'), np.full((4, 4), 254, dtype=np.uint8))
    (tmp_path / 'bad.yaml').write_text(text)
    with pytest.raises(MapFileError, match=message):
        load_map_yaml(tmp_path / 'bad.yaml')
    with pytest.raises(MapFileError, match='cannot read the map'):
        load_map_yaml(tmp_path / 'missing.yaml')


def test_the_navigator_plans_the_same_route_on_a_map_file(tmp_path):
    path = save_map_yaml(WORLD.occupancy_grid(resolution=0.05), tmp_path / 'site.yaml')
    goal = WORLD.places['packing station']
    plans = []
    for static_map in (None, load_map_yaml(path)):
        nav = Navigator(WORLD, scan_matching=False, static_map=static_map)
        nav.update_odom(0.0, (0.0, 0.0, 0.0), (0.0, 0.0))
        plan, _ = nav.plan((goal.x, goal.y), [], 0.0, 3.0)
        assert plan.ok, plan.message
        plans.append(plan.length)
    assert plans[1] == pytest.approx(plans[0], rel=0.02)
