"""The path plot writes a real PNG of the warehouse with the path drawn on it."""

import cv2
import numpy as np

from codeact_robot.path_plot import BLOCKED_COLOUR, plot_path
from codeact_robot.world import Rect, load_world


def test_plot_draws_the_path_over_the_map(tmp_path):
    world = load_world()
    start = world.places['start']
    shelf = world.places['shelf B']
    path = [(start.x, start.y), (2.5, 4.0), (shelf.x, shelf.y)]
    out = plot_path(world, path, tmp_path / 'run' / 'path.png', title='test',
                    obstacles=[Rect.around(6.0, 4.0, 1.0, 1.3)])
    image = cv2.imread(str(out))
    assert image is not None and image.shape[0] > 400 and image.shape[1] > 600
    # the path colour (#1565c0 -> BGR (192, 101, 21)) is present, i.e. the path was drawn
    path_pixels = np.all(np.abs(image.astype(int) - (192, 101, 21)) < 30, axis=2).sum()
    assert path_pixels > 100
    empty = cv2.imread(str(plot_path(world, [], tmp_path / 'empty.png')))
    assert np.all(np.abs(empty.astype(int) - (192, 101, 21)) < 30, axis=2).sum() < path_pixels


def test_aisles_found_blocked_are_marked(tmp_path):
    world = load_world()
    blocked = BLOCKED_COLOUR.lstrip('#')
    bgr = tuple(int(blocked[i:i + 2], 16) for i in (4, 2, 0))

    def blocked_pixels(path):
        image = cv2.imread(str(path)).astype(int)
        return np.all(np.abs(image - bgr) < 25, axis=2).sum()

    marked = plot_path(world, [], tmp_path / 'blocked.png', blocked_aisles=['Aisle 2'])
    plain = plot_path(world, [], tmp_path / 'plain.png')
    assert blocked_pixels(marked) > 1000 > blocked_pixels(plain)
