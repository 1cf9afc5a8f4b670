"""The task skills (go_to, look, fetch) on a ROS-free robot double over the real world's places.

The double teleports and sees boxes within 2.5 m in front of it (a 70-degree view), so these
tests check what the skills decide (where to look, when to re-plan, what to report, what to
refuse), not how the robot drives: the ROS client and the simulator have their own tests.
"""

from __future__ import annotations

import math

import pytest

from codeact_robot.api.errors import (
    GraspError,
    NavigationError,
    NotFoundError,
    SafetyStopError,
    UnknownPlaceError,
)
from codeact_robot.api.robot_api import RobotApi
from codeact_robot.api.types import Detection, MoveResult, Place, Pose, Route
from codeact_robot.world import load_world

WORLD = load_world()
VIEW = math.radians(35)


class BoxWorldDouble(RobotApi):
    """Teleporting robot with boxes at map positions; aisles can be blocked."""

    def __init__(self, boxes: dict[str, tuple[float, float]],
                 blocked: tuple[str, ...] = ()) -> None:
        s = WORLD.start_pose
        self.pose = Pose(s.x, s.y, s.theta)
        self.boxes = dict(boxes)
        self.blocked = set(blocked)
        self.held: str | None = None
        self.moves: list[tuple[float, float, list[str] | None]] = []
        self.released_at: list[tuple[str, Pose]] = []

    @staticmethod
    def _route_aisles(x: float, y: float, avoid: list[str] | None) -> set[str] | None:
        # A route crosses aisle 2 (the middle one), else aisle 3, else aisle 1, whichever is
        # not avoided, plus the aisle its goal lies in; None when every way is avoided.
        goal = WORLD.aisle_at(x, y)
        via = next((a for a in ('aisle 2', 'aisle 3', 'aisle 1') if a not in (avoid or [])),
                   None)
        if via is None or goal in (avoid or []):
            return None
        return {via} | ({goal} if goal else set())

    def get_pose(self) -> Pose:
        return self.pose

    def locations(self) -> dict[str, Place]:
        return dict(WORLD.places)

    def stock_list(self) -> dict[str, str]:
        return {b.name: b.location for b in WORLD.boxes}

    def keep_out_zones(self) -> list[str]:
        return [z.name for z in WORLD.keep_out]

    def move_to(self, x: float, y: float, theta: float | None = None,
                speed: float | None = None, avoid: list[str] | None = None) -> MoveResult:
        self.moves.append((x, y, avoid))
        route = self._route_aisles(x, y, avoid)
        if route is None:
            return MoveResult('no_path', 'no route avoids ' + ', '.join(avoid or []), self.pose)
        hit = sorted(route & self.blocked)
        if hit:
            return MoveResult('blocked', f'blocked in {hit[0]}', self.pose, (5.0, 4.0), hit[0],
                              0.4)
        self.pose = Pose(x, y, self.pose.theta if theta is None else theta)
        return MoveResult('arrived', f'arrived at ({x:.2f}, {y:.2f})', self.pose)

    def move(self, distance: float, speed: float | None = None) -> MoveResult:
        p = self.pose
        self.pose = Pose(p.x + distance * math.cos(p.theta), p.y + distance * math.sin(p.theta),
                         p.theta)
        return MoveResult('arrived', 'moved', self.pose)

    def turn(self, angle: float) -> MoveResult:
        p = self.pose
        self.pose = Pose(p.x, p.y, math.remainder(p.theta + angle, 2 * math.pi))
        return MoveResult('arrived', 'turned', self.pose)

    def stop(self) -> None:
        return None

    def plan_route(self, x: float, y: float, avoid: list[str] | None = None) -> Route:
        return Route(True, 'ok', 1.0)

    def blocked_aisles(self) -> list[str]:
        return sorted(self.blocked)

    def perceive(self) -> list[Detection]:
        out = []
        for colour, (bx, by) in self.boxes.items():
            if colour == self.held:
                continue
            dist = math.dist((bx, by), (self.pose.x, self.pose.y))
            bearing = math.remainder(math.atan2(by - self.pose.y, bx - self.pose.x)
                                     - self.pose.theta, 2 * math.pi)
            if dist <= 2.5 and abs(bearing) <= VIEW:
                out.append(Detection(f'{colour} box', colour, None, bx, by, dist, bearing, 0.9))
        return sorted(out, key=lambda d: d.distance)

    def grasp(self, target: str) -> bool:
        if self.held:
            raise GraspError('already holding a box')
        near = [d for d in self.perceive() if target in (d.color, d.label) and d.distance <= 1.5]
        if not near:
            raise NotFoundError(f'no {target} box in view here')
        self.held = near[0].color
        return True

    def release(self) -> None:
        if self.held:
            self.released_at.append((self.held, self.pose))
            p = self.pose
            self.boxes[self.held] = (p.x + 0.3 * math.cos(p.theta), p.y + 0.3 * math.sin(p.theta))
        self.held = None

    def holding(self) -> bool:
        return self.held is not None

    def wait(self, seconds: float) -> None:
        return None

    def say(self, text: str) -> None:
        return None

    def emergency_stop(self, reason: str) -> None:
        self._halts = self.halt_count() + 1


def shelf_box(place: str) -> tuple[float, float]:
    """A box on the shelf in front of a shelf place (1 m ahead of its pose)."""
    p = WORLD.places[place]
    return p.x + math.cos(p.theta), p.y + math.sin(p.theta)


def test_go_to_goes_round_blocked_aisles_and_says_so():
    robot = BoxWorldDouble({}, blocked=('aisle 2',))
    r = robot.go_to('Packing_Station')  # case and underscores do not matter
    assert r.arrived and r.message == 'arrived at packing station (found aisle 2 blocked and ' \
        'went round)'
    assert [m[2] for m in robot.moves] == [None, ['aisle 2']]


def test_go_to_gives_up_when_every_way_is_blocked():
    robot = BoxWorldDouble({}, blocked=('aisle 2', 'aisle 3', 'aisle 1'))
    r = robot.go_to('packing station')
    assert not r.arrived and r.message == \
        'blocked in aisle 1 (aisle 2, aisle 3 blocked as well: no way round is left)'
    assert len(robot.moves) == 3  # the first try and two re-plans, no more
    assert r.blocked_aisle == 'aisle 1'  # what the last try met


def test_a_stop_on_the_way_round_is_not_called_no_way_round():
    robot = BoxWorldDouble({}, blocked=('aisle 2',))
    plain_move_to = robot.move_to

    def stopped_on_the_second_leg(x, y, theta=None, speed=None, avoid=None):
        if avoid:
            return MoveResult('safety_stop', 'safety stop: laser scan is stale', robot.pose)
        return plain_move_to(x, y, theta, speed, avoid)
    robot.move_to = stopped_on_the_second_leg
    r = robot.go_to('packing station')
    assert r.status == 'safety_stop'
    assert r.message == 'safety stop: laser scan is stale (while going round blocked aisle 2)'


def test_go_to_names_keep_out_zones_and_lists_places():
    robot = BoxWorldDouble({})
    with pytest.raises(UnknownPlaceError, match='keep-out zone, not a place'):
        robot.go_to('Battery storage')
    with pytest.raises(UnknownPlaceError, match='known places: aisle 1 east'):
        robot.go_to('moon base')
    assert robot.moves == []


def test_fetch_takes_the_box_from_its_stock_place_and_checks_the_drop():
    robot = BoxWorldDouble({'red': shelf_box('shelf B')})
    text = robot.fetch('the Red box', 'packing station')
    assert text == 'delivered the red box to the packing station (picked up at shelf B)'
    assert robot.released_at[0][0] == 'red' and not robot.holding()
    station = WORLD.places['packing station']
    held, pose = robot.released_at[0]
    assert math.dist((pose.x, pose.y), (station.x, station.y)) < 1e-6
    assert robot.pose.x < station.x  # backed away from the box it put down
    # Going to (or looking at) that place next does not drive back into the box.
    moves = len(robot.moves)
    assert robot.go_to('packing station').message == 'already at packing station'
    assert len(robot.moves) == moves


def test_fetch_searches_when_the_box_is_not_where_the_stock_list_says():
    stray = (1.2, 2.0)  # on the floor south of the start, not on shelf D
    robot = BoxWorldDouble({'yellow': stray})
    robot.pose = Pose(1.2, 4.0, 0.0)
    text = robot.fetch('yellow', 'packing station')
    assert 'delivered the yellow box to the packing station' in text
    # it went to shelf D first (the stock list), then looked around and approached the box
    assert WORLD.places['shelf D'].x in [m[0] for m in robot.moves]


def test_fetch_reports_what_it_could_not_do():
    robot = BoxWorldDouble({})
    with pytest.raises(NotFoundError, match='no purple box found: looked around here, start, '):
        robot.fetch('purple', 'packing station')
    robot = BoxWorldDouble({'red': shelf_box('shelf B')})
    with pytest.raises(UnknownPlaceError):
        robot.fetch('red', 'the moon')
    assert robot.moves == []  # an unknown destination fails before any motion
    robot = BoxWorldDouble({'red': shelf_box('shelf B')}, blocked=('aisle 3',))
    with pytest.raises(NavigationError, match='holding the red box but could not reach shelf C'):
        robot.fetch('red', 'shelf C')


def test_fetch_delivers_a_box_already_held():
    robot = BoxWorldDouble({'blue': shelf_box('shelf C')})
    robot.go_to('shelf C')
    robot.grasp('blue')
    # The gripper cannot tell what it holds: fetch delivers it and does not claim a colour.
    assert robot.fetch('red', 'charging dock') == \
        'delivered the box the gripper already held to the charging dock'
    assert robot.released_at[-1][0] == 'blue'


def test_look_at_a_place_in_a_direction_and_ahead():
    robot = BoxWorldDouble({'green': shelf_box('shelf A'), 'yellow': (1.2, 2.0)})
    seen = robot.look('shelf A')
    assert [d.color for d in seen] == ['green']
    assert abs(robot.pose.theta - WORLD.places['shelf A'].theta) < 1e-6  # faces the shelf again
    robot.pose = Pose(1.2, 4.0, 0.0)
    assert robot.look() == []
    assert [d.color for d in robot.look('south')] == ['yellow']
    assert abs(robot.pose.theta + math.pi / 2) < 1e-6


def test_fetch_searches_first_where_the_user_said_the_box_is():
    corner = (10.3, 6.6)  # on the floor in the north-east corner, no place next to it
    robot = BoxWorldDouble({'purple': corner})
    text = robot.fetch('purple', 'packing station', near='the North-East corner')
    assert text.startswith('delivered the purple box to the packing station (picked up at ')
    first = robot.moves[0]
    east3 = WORLD.places['aisle 3 east']
    assert (first[0], first[1]) == (east3.x, east3.y)  # the place nearest that corner
    assert robot.fetch('purple', 'shelf A', near='packing station').startswith('delivered')
    with pytest.raises(UnknownPlaceError, match='neither a place nor a part'):
        robot.fetch('purple', 'shelf A', near='over there')


def test_place_names_are_forgiven_when_they_leave_one_place():
    robot = BoxWorldDouble({})
    assert robot.go_to('aisle 2 east end').arrived
    assert robot.pose.x == WORLD.places['aisle 2 east'].x
    assert robot.go_to('The Packing Station').arrived
    assert robot.go_to('the west end of aisle 3').arrived  # whole names, in any order
    assert robot.pose.x == WORLD.places['aisle 3 west'].x
    with pytest.raises(UnknownPlaceError,
                       match="did you mean 'aisle 2 east' or 'aisle 2 west'\\?$"):
        robot.go_to('aisle 2')  # two places fit: no guess
    with pytest.raises(UnknownPlaceError, match='keep-out zone'):
        robot.go_to('inside the battery storage')


def test_look_towards_a_direction_from_a_place():
    robot = BoxWorldDouble({'yellow': (1.2, 2.0)})
    robot.pose = Pose(5.0, 4.0, 0.0)
    assert [d.color for d in robot.look('south of the start')] == ['yellow']
    start = WORLD.places['start']
    assert (robot.pose.x, robot.pose.y) == (start.x, start.y)


def test_a_stop_during_a_task_skill_ends_it_without_another_motion():
    class StoppedOnSecondTurn(BoxWorldDouble):
        turns = 0

        def turn(self, angle: float) -> MoveResult:
            self.turns += 1
            if self.turns == 2:
                self.emergency_stop('e-stop pressed')  # from another thread, in real life
            return super().turn(angle)

    robot = StoppedOnSecondTurn({})  # no purple box anywhere: fetch would search on
    with pytest.raises(SafetyStopError, match='stopped'):
        robot.fetch('purple', 'packing station')
    assert robot.turns == 2 and robot.moves == []  # nothing after the stop

    class SafetyStops(BoxWorldDouble):
        def move_to(self, x, y, theta=None, speed=None, avoid=None):
            self.moves.append((x, y, avoid))
            return MoveResult('safety_stop', 'laser scan is stale', self.pose)

    robot = SafetyStops({'red': shelf_box('shelf B')})
    robot.pose = Pose(10.0, 7.0, 0.0)
    with pytest.raises(SafetyStopError, match='safety_stop'):
        robot.fetch('red', 'packing station')
    assert len(robot.moves) == 1
    assert robot.go_to('shelf B').status == 'safety_stop'  # go_to itself reports, not raises


def test_look_parses_places_that_contain_compass_words():
    robot = BoxWorldDouble({})
    robot.look('aisle 1 east')
    east = WORLD.places['aisle 1 east']
    assert (robot.pose.x, robot.pose.y) == (east.x, east.y)
    with pytest.raises(UnknownPlaceError):
        robot.look('over yonder')


def test_articles_and_single_words_do_not_pick_a_place():
    robot = BoxWorldDouble({})
    for text in ('a shelf', 'the start of aisle 3'):
        with pytest.raises(UnknownPlaceError):
            robot.go_to(text)
    assert robot.moves == []
    assert robot.go_to('go to shelf a').arrived and robot.pose.x == WORLD.places['shelf A'].x


def test_go_to_a_place_the_robot_is_at_does_not_drive():
    robot = BoxWorldDouble({})
    c = WORLD.places['shelf C']
    robot.pose = Pose(c.x + 0.1, c.y, c.theta + 0.2)
    r = robot.go_to('shelf C')
    assert r.arrived and r.message == 'already at shelf C' and robot.moves == []
    robot.pose = Pose(c.x + 0.5, c.y, c.theta)
    assert robot.go_to('shelf C').arrived and len(robot.moves) == 1
