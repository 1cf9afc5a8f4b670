"""The robot API the model's code calls: signatures and docstrings here ARE the prompt.

``RobotApi`` is the contract. ``codeact_robot.nodes.ros_robot_api.RosRobotApi`` implements its
primitives as a thin client of the skills node's actions and services (where the safety layer
lives). The task skills (``go_to``, ``look``, ``fetch``) are written once, here, on top of the
primitives (``codeact_robot.api.composite``), so every motion they make still passes the safety
layer. The executor exposes the methods listed in ``RobotApi.LLM_FUNCTIONS`` to the sandbox; the
agent's system prompt is generated from the signatures and docstrings of the ones it shows.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from codeact_robot.api import composite
from codeact_robot.api.types import Detection, MoveResult, Place, Pose, Route


class RobotApi(ABC):
    """Everything the model's code may ask of the robot."""

    LLM_FUNCTIONS: tuple[str, ...] = (
        'get_pose', 'locations', 'move_to', 'go_to', 'move', 'turn', 'stop', 'plan_route',
        'blocked_aisles', 'perceive', 'look', 'grasp', 'release', 'fetch', 'holding', 'wait',
        'say',
    )
    #: What the agents show a model by default: few, task-level, verified functions (a 1.5B
    #: model composes eight far better than seventeen). The rest stay available to configs.
    PROMPT_FUNCTIONS: tuple[str, ...] = (
        'go_to', 'fetch', 'look', 'move_to', 'turn', 'perceive', 'grasp', 'release',
    )

    @abstractmethod
    def get_pose(self) -> Pose:
        """Return the robot's current pose in the map frame.

        Returns:
            Pose with x, y in metres and theta in radians.
        """

    @abstractmethod
    def locations(self) -> dict[str, Place]:
        """Return the named places of the warehouse.

        Returns:
            A dict from place name (e.g. "shelf B", "packing station") to Place(x, y, theta, ...).
        """

    @abstractmethod
    def move_to(self, x: float, y: float, theta: float | None = None,
                speed: float | None = None, avoid: list[str] | None = None) -> MoveResult:
        """Drive to coordinates, e.g. a box's x, y from look(), on a planned route.

        Args:
            x: Goal x in metres (map frame).
            y: Goal y in metres (map frame).
            theta: Final heading in radians, or None to keep the arrival heading.
            speed: m/s up to the speed limit, or None for the default.
            avoid: Aisle names the route must not enter, e.g. ["aisle 1"].

        Returns:
            MoveResult; check result.arrived. If blocked, result.blocked_aisle says where.
        """

    def go_to(self, name: str, avoid: list[str] | None = None) -> MoveResult:
        """Drive to a named place. If an aisle is blocked on the way, it goes round by itself.

        Args:
            name: A place name such as "shelf B" or "packing station".
            avoid: Aisle names the route must not enter, e.g. ["aisle 1"].

        Returns:
            MoveResult; check result.arrived. If not, result.message says why.
        """
        return composite.go_to(self, name, avoid)

    @abstractmethod
    def move(self, distance: float, speed: float | None = None) -> MoveResult:
        """Drive straight by a distance without planning; stops before obstacles.

        Args:
            distance: Metres, negative to back up (at most 2 m per call).
            speed: m/s, or None for the default.

        Returns:
            MoveResult; status "arrived" when the full distance was driven.
        """

    @abstractmethod
    def turn(self, angle: float) -> MoveResult:
        """Turn in place.

        Args:
            angle: Radians, positive is counter-clockwise (left).

        Returns:
            MoveResult; status "arrived" when the turn completed.
        """

    @abstractmethod
    def stop(self) -> None:
        """Stop all motion now."""

    @abstractmethod
    def plan_route(self, x: float, y: float, avoid: list[str] | None = None) -> Route:
        """Plan, but do not drive, a route to (x, y) around known and currently seen obstacles.

        Args:
            x: Goal x in metres.
            y: Goal y in metres.
            avoid: Aisle or zone names the route must not enter.

        Returns:
            Route with ok, length, waypoints and the aisles it passes through.
        """

    @abstractmethod
    def blocked_aisles(self) -> list[str]:
        """Return the aisles currently seen as blocked (from the lidar and earlier attempts).

        Returns:
            Aisle names such as ["aisle 2"]; empty when all known aisles are clear.
        """

    @abstractmethod
    def perceive(self) -> list[Detection]:
        """Detect boxes and markers in the current camera view (look() also turns and filters).

        Returns:
            Detections, nearest first; empty when nothing is visible.
        """

    @abstractmethod
    def grasp(self, target: str) -> bool:
        """Pick up a box within about 1.5 m with the suction gripper (fetch() does it all).

        Args:
            target: A colour ("red"), a label ("red box") or a marker ("marker 3").

        Returns:
            True when the box is held. Raises NotFoundError or GraspError otherwise.
        """

    @abstractmethod
    def release(self) -> None:
        """Turn suction off, dropping whatever the gripper holds."""

    def fetch(self, box: str, to: str, near: str | None = None) -> str:
        """Bring a box to a place: find it, pick it up, carry it there, put it down, check.

        Looks where the robot is, then at the box's stock-list shelf, then at nearby places.

        Args:
            box: The box's colour, e.g. "red", or its marker, e.g. "marker 3".
            to: The place to put it down, e.g. "packing station".
            near: Only if the task says where the box is: that place or part of the
                warehouse, in the task's words. Leave it out otherwise (the stock list).

        Returns:
            What was done: "delivered the <colour> box to the <place> (picked up at <where>)".
            Raises NotFoundError, GraspError or NavigationError if it could not.
        """
        return composite.fetch(self, box, to, near)

    def look(self, where: str | None = None) -> list[Detection]:
        """List the boxes in view (within 4 m), nearest first.

        Args:
            where: A place name (drive there and look along it), a direction "north",
                "south", "east" or "west" (turn that way here), or None (straight ahead).

        Returns:
            Detections with color, marker_id, x, y and distance; empty if nothing is seen.
        """
        return composite.look(self, where)

    @abstractmethod
    def holding(self) -> bool:
        """Return True if the gripper holds something (vacuum sealed).

        Returns:
            Whether an object is held.
        """

    @abstractmethod
    def wait(self, seconds: float) -> None:
        """Wait without moving.

        Args:
            seconds: How long, 0 to 30 seconds.
        """

    @abstractmethod
    def say(self, text: str) -> None:
        """Say something to the people nearby (logged and published).

        Args:
            text: What to say.
        """

    @abstractmethod
    def emergency_stop(self, reason: str) -> None:
        """Trusted side only (never exposed to the model): cancel all motion, zero velocity."""

    # -- trusted side: what the task skills know about the world (not for the model) ---------

    def stock_list(self) -> dict[str, str]:
        """Return where boxes are stored (box name -> place name); empty when unknown."""
        return {}

    def halt_count(self) -> int:
        """Return how many emergency stops this client has had (task skills stop on a change).

        Implementations count in emergency_stop(); one that does not makes the task skills rely
        on the motions' own results (safety_stop, canceled) alone.
        """
        return int(getattr(self, '_halts', 0))

    def keep_out_zones(self) -> list[str]:
        """Return the names of the zones the robot must never enter."""
        return []
