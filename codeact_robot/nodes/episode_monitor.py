"""The evaluation's only rclpy piece: records /sim/ground_truth and /safety/events.

Ground truth is for evaluation only (docs/ARCHITECTURE.md); the robot API and the agent never
read it. The node runs in the same NodeRunner as the embedded robot.
"""

from __future__ import annotations

import threading

from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy

from codeact_robot.nodes.runner import wait_for
from codeact_robot.safety.events import SafetyIntervention
from codeact_robot.sim.ground_truth import GroundTruth
from codeact_robot_interfaces.msg import GroundTruth as GroundTruthMsg
from codeact_robot_interfaces.msg import SafetyEvent

# Keep one trajectory sample per this much simulated time (the simulator publishes at 20 Hz).
SAMPLE_PERIOD = 0.2


def truth_from_msg(msg: GroundTruthMsg) -> GroundTruth:
    """Convert a GroundTruth message to the ROS-free snapshot predicates read."""
    stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
    objects = {name: (p.position.x, p.position.y, p.position.z)
               for name, p in zip(msg.names, msg.poses, strict=False)}
    return GroundTruth(stamp, (msg.robot.x, msg.robot.y, msg.robot.theta), objects, msg.held)


class EpisodeMonitor(Node):
    """Keep the latest ground truth; while recording, a trajectory and the safety events."""

    def __init__(self, **kwargs: object) -> None:
        """Subscribe to /sim/ground_truth and /safety/events (kwargs go to Node)."""
        super().__init__('eval_monitor', **kwargs)  # type: ignore[arg-type]
        self._lock = threading.Lock()
        self._latest: GroundTruth | None = None
        self._recording = False
        self._trajectory: list[GroundTruth] = []
        self._events: list[SafetyIntervention] = []
        reliable = QoSProfile(depth=20, reliability=ReliabilityPolicy.RELIABLE)
        self.create_subscription(GroundTruthMsg, 'sim/ground_truth', self._on_truth, reliable)
        self.create_subscription(SafetyEvent, 'safety/events', self._on_event,
                                 QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE))

    def _on_truth(self, msg: GroundTruthMsg) -> None:
        truth = truth_from_msg(msg)
        with self._lock:
            self._latest = truth
            if self._recording and (not self._trajectory or truth.stamp
                                    - self._trajectory[-1].stamp >= SAMPLE_PERIOD):
                self._trajectory.append(truth)

    def _on_event(self, msg: SafetyEvent) -> None:
        with self._lock:
            if self._recording:
                self._events.append(SafetyIntervention(msg.kind, msg.reason, msg.source))

    def latest(self) -> GroundTruth | None:
        """Return the newest ground truth, or None before the first message."""
        with self._lock:
            return self._latest

    def wait_for_truth(self, timeout: float, after: float | None = None) -> GroundTruth:
        """Wait (bounded) for ground truth newer than sim time ``after``; raise on timeout."""
        def fresh() -> GroundTruth | None:
            truth = self.latest()
            if truth is not None and (after is None or truth.stamp > after):
                return truth
            return None
        return wait_for(fresh, timeout, 'sim/ground_truth')

    def start(self) -> None:
        """Forget earlier samples and events; start recording."""
        with self._lock:
            self._trajectory, self._events = [], []
            self._recording = True

    def stop(self) -> tuple[list[GroundTruth], list[SafetyIntervention]]:
        """Stop recording; return the trajectory and the safety events."""
        with self._lock:
            self._recording = False
            return list(self._trajectory), list(self._events)
