"""Fault injection with real processes: the simulator or the skills node dies mid-motion.

The simulator and the skills node run as separate processes (as ``ros2 launch`` starts them) on
this run's DDS domain; the test observes from its own process and kills one with SIGKILL while
the robot drives. What must hold: the robot comes to rest (the simulator's own /cmd_vel timeout
when the skills node is gone; the skills node's stop when the simulator is gone), the caller
gets an answer instead of a hang, and nothing keeps commanding motion.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from geometry_msgs.msg import Twist
from rclpy.node import Node

from codeact_robot.nodes.action_client import ActionClient
from codeact_robot.nodes.runner import NodeRunner, wait_for
from codeact_robot_interfaces.action import Drive
from codeact_robot_interfaces.msg import GroundTruth

pytestmark = pytest.mark.ros
SIM_CMD_TIMEOUT = 0.5  # config/sim.yaml sim_node.cmd_timeout (s of sim time)


def _start(module: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, '-m', module, *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(10.0)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5.0)


class Watcher:
    """Ground truth and /cmd_vel as seen from the test's own process."""

    def __init__(self, runner: NodeRunner) -> None:
        self.node = runner.add(Node('fault_watcher', context=runner.context))
        self.lock = threading.Lock()
        self.truth: list[tuple[float, float, float]] = []  # (sim time, x, y)
        self.cmds: list[tuple[float, float, float]] = []  # (monotonic, v, w)
        self.node.create_subscription(GroundTruth, '/sim/ground_truth', self._on_truth, 50)
        self.node.create_subscription(Twist, '/cmd_vel', self._on_cmd, 50)
        self.drive = ActionClient(self.node, Drive, '/skills/drive')

    def _on_truth(self, msg: GroundTruth) -> None:
        t = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        with self.lock:
            self.truth.append((t, msg.robot.x, msg.robot.y))

    def _on_cmd(self, msg: Twist) -> None:
        with self.lock:
            self.cmds.append((time.monotonic(), msg.linear.x, msg.angular.z))

    def speed(self, window: float = 0.2) -> float | None:
        """Ground-truth speed over the last ``window`` s of sim time."""
        with self.lock:
            samples = list(self.truth[-50:])
        if len(samples) < 2:
            return None
        end = samples[-1]
        older = [s for s in samples if end[0] - s[0] >= window]
        if not older:
            return None
        start = older[-1]
        return math.dist(start[1:], end[1:]) / (end[0] - start[0])

    def sim_time(self) -> float:
        with self.lock:
            return self.truth[-1][0] if self.truth else math.nan


@pytest.fixture
def robot() -> Iterator[tuple[subprocess.Popen[bytes], subprocess.Popen[bytes], Watcher]]:
    sim = _start('codeact_robot.nodes.sim_node', '--no-camera')
    skills = _start('codeact_robot.nodes.skills_node', '--ros-args', '-p', 'use_sim_time:=true')
    runner = NodeRunner()
    try:
        watcher = Watcher(runner)
        assert watcher.drive.wait_for_server(timeout_sec=60.0), 'the skills node did not start'
        wait_for(lambda: watcher.speed() is not None, 30.0, 'ground truth')
        yield sim, skills, watcher
    finally:
        runner.close()
        for proc in (skills, sim):
            _stop(proc)


def _send_drive(watcher: Watcher, distance: float) -> dict[str, object]:
    """Send a Drive goal in the background; the box gets 'result' or 'error'."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            done = threading.Event()
            fut = watcher.drive.send_goal_async(Drive.Goal(distance=distance, angle=0.0,
                                                           speed=0.4))
            fut.add_done_callback(lambda _f: done.set())
            if not done.wait(20.0):
                box['error'] = 'goal not answered'
                return
            handle = fut.result()
            done.clear()
            res = handle.get_result_async()
            res.add_done_callback(lambda _f: done.set())
            box['result'] = res.result().result if done.wait(30.0) else None
        except Exception as e:  # noqa: BLE001 - reported by the test
            box['error'] = repr(e)

    threading.Thread(target=run, daemon=True).start()
    return box


def test_the_skills_node_killed_mid_motion_leaves_the_robot_at_rest(robot):
    _sim, skills, watcher = robot
    _send_drive(watcher, 1.8)
    wait_for(lambda: (watcher.speed() or 0.0) > 0.2, 30.0, 'the robot driving')
    t_kill = watcher.sim_time()
    v_kill = watcher.speed() or 0.0
    os.kill(skills.pid, signal.SIGKILL)
    skills.wait(5.0)
    killed_at = time.monotonic()
    # The simulator stops the base when /cmd_vel goes quiet for cmd_timeout (sim time).
    wait_for(lambda: (watcher.speed(0.2) or 1.0) < 0.02, 10.0, 'the robot at rest')
    rest = watcher.sim_time() - t_kill
    print(f'speed {v_kill:.2f} m/s at the kill; at rest {rest:.2f} s of sim time later')
    # cmd_timeout, then braking (the base stops within a few physics steps), plus the 0.2 s
    # window the speed is measured over.
    assert rest <= SIM_CMD_TIMEOUT + 0.5 + 0.2 + 0.2
    assert not [c for c in watcher.cmds if c[0] > killed_at + 0.1], 'a command after the kill'


def test_the_simulator_killed_mid_motion_ends_the_goal_and_nothing_commands_motion(robot):
    sim, _skills, watcher = robot
    box = _send_drive(watcher, 1.8)
    wait_for(lambda: (watcher.speed() or 0.0) > 0.2, 30.0, 'the robot driving')
    os.kill(sim.pid, signal.SIGKILL)
    sim.wait(5.0)
    killed_at = time.monotonic()
    # The skills node sees odometry (and its clock) stop: the goal ends with an answer, not a
    # hang, and the last command on /cmd_vel is zero.
    wait_for(lambda: 'result' in box or 'error' in box, 30.0, 'the drive goal to end')
    result = box.get('result')
    print('drive after the simulator died:', box, f'{time.monotonic() - killed_at:.1f} s')
    assert result is not None and result.status != Drive.Result.DONE, box
    wait_for(lambda: watcher.cmds and watcher.cmds[-1][1:] == (0.0, 0.0), 5.0,
             'a final zero command')
    last_moving = max((c[0] for c in watcher.cmds if c[1:] != (0.0, 0.0)), default=0.0)
    assert last_moving < killed_at + 2.0, 'non-zero commands long after the simulator died'
