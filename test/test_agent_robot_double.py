"""The agent tests' robot double keeps the RobotApi contract it stands in for."""

from __future__ import annotations

import pytest
from robot_doubles import WarehouseRobotDouble

from codeact_robot.api.errors import NotFoundError, UnknownPlaceError


def test_double_follows_the_contract():
    robot = WarehouseRobotDouble(blocked_aisle='aisle 2')
    b = robot.world.places['shelf B']
    assert robot.move_to(b.x, b.y).status == 'blocked'
    assert robot.move_to(b.x, b.y, avoid=['aisle 2']).arrived
    with pytest.raises(NotFoundError):
        robot.grasp('blue')
    assert robot.grasp('red') and robot.holding()
    with pytest.raises(UnknownPlaceError):
        robot.go_to('moon')
    robot.emergency_stop('test')
    robot.wait(10)  # returns at once after the stop
    assert robot.stops == ['test']
