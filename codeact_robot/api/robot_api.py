"""The robot API the model's code calls: signatures and docstrings here ARE the prompt.

``RobotApi`` is the contract. ``codeact_robot.api.ros_robot_api.RosRobotApi`` implements it as a
thin client of the skills node's actions and services (where the safety layer lives). The
executor exposes exactly the methods listed in ``RobotApi.LLM_FUNCTIONS`` to the sandbox, and the
agent's system prompt is generated from their signatures and docstrings.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from codeact_robot.api.types import Detection, MoveResult, Place, Pose, Route


class RobotApi(ABC):
    """Everything the model's code may ask of the robot."""

    LLM_FUNCTIONS: tuple[str, ...] = (
        'get_pose', 'locations', 'move_to', 'go_to', 'move', 'turn', 'stop', 'plan_route',
        'blocked_aisles', 'perceive', 'grasp', 'release', 'holding', 'wait', 'say',
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
        """Plan a collision-free route to (x, y) and drive it, stopping for obstacles.

        Args:
            x: Goal x in metres (map frame).
            y: Goal y in metres (map frame).
            theta: Final heading in radians, or None to keep the arrival heading.
            speed: Cruise speed in m/s (at most the safety limit), or None for the default.
            avoid: Aisle or zone names the route must not enter, e.g. ["aisle 2"].

        Returns:
            MoveResult; check result.arrived. When an obstacle blocks the way, status is
            "blocked" with blocked_at and blocked_aisle set: plan again with avoid=[...].
        """

    @abstractmethod
    def go_to(self, name: str, speed: float | None = None,
              avoid: list[str] | None = None) -> MoveResult:
        """Drive to a named place (see locations()), like move_to.

        Args:
            name: A place name such as "shelf B" or "packing station".
            speed: Cruise speed in m/s, or None for the default.
            avoid: Aisle or zone names the route must not enter.

        Returns:
            MoveResult; check result.arrived.
        """

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
        """Detect boxes and markers in the current camera view.

        Returns:
            Detections (label, color, marker_id, map x/y, distance, bearing, confidence), nearest
            first. Empty when nothing is visible: turn or move and look again.
        """

    @abstractmethod
    def grasp(self, target: str) -> bool:
        """Pick up a box with the suction gripper: approach it, align, suction on, verify.

        The box must be visible and within about 1.5 m; go to its shelf first.

        Args:
            target: A colour ("red"), a label ("red box") or a marker ("marker 3").

        Returns:
            True when the box is held. Raises NotFoundError or GraspError otherwise.
        """

    @abstractmethod
    def release(self) -> None:
        """Turn suction off, dropping whatever the gripper holds."""

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
