"""A robot double for the agent loop tests (the real robot is the lead's end-to-end tests).

``WarehouseRobotDouble`` implements the RobotApi contract on the real world description without
ROS or physics: motions teleport, aisle 2 can be marked blocked, grasp needs the box's shelf,
wait() is interruptible by emergency_stop(). It records every call and every stop.
"""

from __future__ import annotations

import threading

from codeact_robot.api.errors import (
    GraspError,
    InvalidArgumentError,
    NotFoundError,
)
from codeact_robot.api.robot_api import RobotApi
from codeact_robot.api.types import Detection, MoveResult, Place, Pose, Route
from codeact_robot.world import World, load_world


class WarehouseRobotDouble(RobotApi):
    """Test double of the robot: instantaneous motion over the real world's places."""

    def __init__(self, world: World | None = None, blocked_aisle: str | None = None) -> None:
        self.world = world or load_world()
        start = self.world.start_pose
        self.pose = Pose(start.x, start.y, start.theta)
        self.held: str | None = None
        self.blocked_aisle = blocked_aisle
        self.calls: list[tuple[str, tuple, dict]] = []
        self.stops: list[str] = []
        self.said: list[str] = []
        self._stopped = threading.Event()
        self._lock = threading.Lock()

    def _log(self, name: str, *args: object, **kwargs: object) -> None:
        with self._lock:
            self.calls.append((name, args, kwargs))

    def called(self, name: str) -> list[tuple[tuple, dict]]:
        """Return the (args, kwargs) of every call of ``name``."""
        with self._lock:
            return [(a, k) for n, a, k in self.calls if n == name]

    def _drive(self, x: float, y: float, theta: float | None,
               avoid: list[str] | None) -> MoveResult:
        # Every route of this double runs through aisle 2 unless told to avoid it.
        route_aisle = 'aisle 2'
        if self.blocked_aisle == route_aisle and route_aisle not in (avoid or []):
            return MoveResult('blocked', f'obstacle ahead in {route_aisle}', self.pose,
                              blocked_at=(5.0, 4.0), blocked_aisle=route_aisle,
                              obstacle_distance=0.6)
        self.pose = Pose(x, y, self.pose.theta if theta is None else theta)
        return MoveResult('arrived', 'arrived', self.pose)

    def get_pose(self) -> Pose:
        """Return the pose."""
        return self.pose

    def locations(self) -> dict[str, Place]:
        """Return the world's places."""
        self._log('locations')
        return dict(self.world.places)

    def move_to(self, x: float, y: float, theta: float | None = None,
                speed: float | None = None, avoid: list[str] | None = None) -> MoveResult:
        """Teleport to (x, y) unless the route is blocked."""
        self._log('move_to', x, y, theta=theta, speed=speed, avoid=avoid)
        return self._drive(x, y, theta, avoid)

    def go_to(self, name: str, avoid: list[str] | None = None) -> MoveResult:
        """Record the call; the contract's go_to resolves the place and calls move_to."""
        self._log('go_to', name, avoid=avoid)
        return super().go_to(name, avoid)

    def stock_list(self) -> dict[str, str]:
        """Return the world's stock list."""
        return {b.name: b.location for b in self.world.boxes}

    def keep_out_zones(self) -> list[str]:
        """Return the world's keep-out zones."""
        return [z.name for z in self.world.keep_out]

    def move(self, distance: float, speed: float | None = None) -> MoveResult:
        """Refuse long moves; otherwise arrive in place."""
        self._log('move', distance, speed=speed)
        if abs(distance) > 2.0:
            raise InvalidArgumentError('distance must be within 2 m')
        return MoveResult('arrived', 'arrived', self.pose)

    def turn(self, angle: float) -> MoveResult:
        """Turn in place."""
        self._log('turn', angle)
        self.pose = Pose(self.pose.x, self.pose.y, self.pose.theta + angle)
        return MoveResult('arrived', 'arrived', self.pose)

    def stop(self) -> None:
        """Record the stop."""
        self._log('stop')

    def plan_route(self, x: float, y: float, avoid: list[str] | None = None) -> Route:
        """Return a straight route."""
        self._log('plan_route', x, y, avoid=avoid)
        return Route(True, 'ok', 1.0, [(self.pose.x, self.pose.y), (x, y)], [], [])

    def blocked_aisles(self) -> list[str]:
        """Return the blocked aisle, if any."""
        self._log('blocked_aisles')
        return [self.blocked_aisle] if self.blocked_aisle else []

    def _box_here(self, target: str) -> str | None:
        for box in self.world.boxes:
            if target in (box.name, box.color) and box.location in self.world.places:
                place = self.world.places[box.location]
                if abs(place.x - self.pose.x) + abs(place.y - self.pose.y) < 0.3:
                    return box.name
        return None

    def perceive(self) -> list[Detection]:
        """Return the boxes stored at the current place."""
        self._log('perceive')
        found = []
        for box in self.world.boxes:
            if self._box_here(box.color):
                found.append(Detection(box.name, box.color, box.marker_id, box.x, box.y,
                                       1.0, 0.0, 0.9))
        return found

    def grasp(self, target: str) -> bool:
        """Pick up a box stored at the current place."""
        self._log('grasp', target)
        if self.held:
            raise GraspError(f'already holding the {self.held}; release it first')
        name = self._box_here(target)
        if name is None:
            raise NotFoundError(f'no {target} box visible from here; go to its shelf first')
        self.held = name
        return True

    def release(self) -> None:
        """Drop what is held."""
        self._log('release')
        self.held = None

    def holding(self) -> bool:
        """Return whether a box is held."""
        return self.held is not None

    def wait(self, seconds: float) -> None:
        """Sleep, ending early on emergency_stop()."""
        self._log('wait', seconds)
        self._stopped.wait(seconds)

    def say(self, text: str) -> None:
        """Record what was said."""
        self._log('say', text)
        self.said.append(text)

    def emergency_stop(self, reason: str) -> None:
        """Record the stop and end any wait()."""
        self._halts = self.halt_count() + 1
        self.stops.append(reason)
        self._stopped.set()
