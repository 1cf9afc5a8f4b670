"""Colour and depth images are paired by capture stamp, never by arrival (ROS-free)."""

from __future__ import annotations

import numpy as np
import pytest

from codeact_robot.skills.perceive import RgbdPairer, StampedImage


def image(stamp: float, fresh: float | None = None, value: int = 0) -> StampedImage:
    return StampedImage(stamp, stamp if fresh is None else fresh, np.full((2, 2), value))


def test_a_lagging_depth_stream_is_not_joined_to_the_newest_colour_image():
    pairer = RgbdPairer(tolerance=0.0)
    for t in (1.0, 1.1, 1.2):
        pairer.add_rgb(image(t, value=int(10 * t)))
    pairer.add_depth(image(1.0, value=10))  # depth of 1.1 and 1.2 still on the way
    rgb, depth = pairer.newest_pair()
    assert rgb.stamp == depth.stamp == 1.0 and rgb.data[0, 0] == 10
    pairer.add_depth(image(1.2, value=12))
    rgb, depth = pairer.newest_pair()
    assert rgb.stamp == depth.stamp == 1.2


def test_only_captures_fresh_since_the_request_count():
    pairer = RgbdPairer(tolerance=0.0)
    pairer.add_rgb(image(1.0))
    pairer.add_depth(image(1.0))
    assert pairer.newest_pair(since=1.05) is None  # taken before the request: wait
    pairer.add_rgb(image(1.1))
    assert pairer.newest_pair(since=1.05) is None  # its depth has not arrived
    pairer.add_depth(image(1.1))
    assert pairer.newest_pair(since=1.05)[0].stamp == 1.1


def test_tolerance_pairs_separate_sensors_and_clear_forgets():
    pairer = RgbdPairer(tolerance=0.01)
    pairer.add_rgb(image(2.000))
    pairer.add_depth(image(2.025))
    assert pairer.newest_pair() is None  # 25 ms apart: two captures
    pairer.add_depth(image(2.008))
    assert pairer.newest_pair()[1].stamp == 2.008
    pairer.clear()
    assert pairer.newest_pair() is None
    with pytest.raises(ValueError, match='tolerance'):
        RgbdPairer(tolerance=-0.1)


def test_old_images_beyond_keep_are_dropped():
    pairer = RgbdPairer(tolerance=0.0, keep=2)
    pairer.add_depth(image(1.0))
    for t in (1.0, 1.1, 1.2):
        pairer.add_rgb(image(t))
    assert pairer.newest_pair() is None  # the colour image of 1.0 is gone
