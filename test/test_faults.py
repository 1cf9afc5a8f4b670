"""Fault injection with real processes: the simulator, skills node or agent dies mid-motion.

The simulator, the skills node and the agent node run as separate processes (as ``ros2 launch``
starts them) on this run's DDS domain; the test observes from its own process and kills one
with SIGKILL while the robot drives. What must hold: the robot comes to rest (the simulator's
own /cmd_vel timeout when the skills node is gone; the skills node's stop when the simulator or
the agent waiting for the goal is gone), a caller that lives gets an answer instead of a hang,
nothing keeps commanding motion, and a dead agent leaves a readable transcript and no sandbox.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from geometry_msgs.msg import Twist
from node_processes import start_module as _start
from node_processes import stop_process as _stop
from rclpy.node import Node

from codeact_robot.agent.transcript import read_transcript
from codeact_robot.nodes.action_client import ActionClient
from codeact_robot.nodes.agent_node import ACTION_NAME
from codeact_robot.nodes.ros_robot_api import RosRobotApi
from codeact_robot.nodes.runner import NodeRunner, wait_for
from codeact_robot_interfaces.action import ExecuteCommand
from codeact_robot_interfaces.msg import GroundTruth, SafetyEvent

pytestmark = pytest.mark.ros
SIM_CMD_TIMEOUT = 0.5  # config/sim.yaml sim_node.cmd_timeout (s of sim time)
CLIENT_TIMEOUT = 2.0  # skills_node client_timeout default (wall s)


class Watcher:
    """Ground truth and /cmd_vel as seen from the test's own process."""

    def __init__(self, runner: NodeRunner) -> None:
        self.node = runner.add(Node('fault_watcher', context=runner.context))
        self.lock = threading.Lock()
        self.truth: list[tuple[float, float, float]] = []  # (sim time, x, y)
        self.cmds: list[tuple[float, float, float]] = []  # (monotonic, v, w)
        self.events: list[SafetyEvent] = []
        self.node.create_subscription(GroundTruth, '/sim/ground_truth', self._on_truth, 50)
        self.node.create_subscription(Twist, '/cmd_vel', self._on_cmd, 50)
        self.node.create_subscription(SafetyEvent, '/safety/events', self.events.append, 50)
        self.api = RosRobotApi(self.node, 'warehouse')

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
def robot(tmp_path: Path, request: pytest.FixtureRequest
          ) -> Iterator[tuple[subprocess.Popen[bytes], subprocess.Popen[bytes], Watcher]]:
    sim = _start(tmp_path / 'sim.log', 'codeact_robot.nodes.sim_node', '--no-camera')
    skills = _start(tmp_path / 'skills.log', 'codeact_robot.nodes.skills_node', '--ros-args',
                    '-p', 'use_sim_time:=true')
    runner = NodeRunner()
    request.node.user_properties.append(('logs', tmp_path))  # shown if the test fails
    try:
        watcher = Watcher(runner)
        # Ready as the agent sees it: servers up and a pose from odometry (processes started
        # beside a busy machine take a while; the bound is generous, the wait a condition).
        watcher.api.wait_until_ready(90.0)
        wait_for(lambda: watcher.speed() is not None, 60.0, 'ground truth')
        yield sim, skills, watcher
    finally:
        runner.close()
        for proc in (skills, sim):
            _stop(proc)


def _move_in_background(watcher: Watcher, distance: float) -> dict[str, object]:
    """Call the API's move() as the agent would; the box gets 'result' or 'error'."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box['result'] = watcher.api.move(distance, speed=0.4)
        except Exception as e:  # noqa: BLE001 - reported by the test
            box['error'] = e

    threading.Thread(target=run, daemon=True).start()
    return box


def _wait_driving(watcher: Watcher, box: dict[str, object]) -> None:
    wait_for(lambda: (watcher.speed() or 0.0) > 0.2 or box, 60.0, 'the robot driving')
    assert (watcher.speed() or 0.0) > 0.2, f'the move ended before driving: {box}'


def test_the_skills_node_killed_mid_motion_leaves_the_robot_at_rest(robot):
    _sim, skills, watcher = robot
    _wait_driving(watcher, _move_in_background(watcher, 1.8))
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
    box = _move_in_background(watcher, 1.8)
    _wait_driving(watcher, box)
    os.kill(sim.pid, signal.SIGKILL)
    sim.wait(5.0)
    killed_at = time.monotonic()
    # The skills node sees its clock and odometry stop: the agent's move() returns a safety
    # stop that says why (no hang), and the last command on /cmd_vel is zero.
    wait_for(lambda: box, 60.0, 'move() to return')
    print('move() after the simulator died:', box, f'{time.monotonic() - killed_at:.1f} s')
    result = box.get('result')
    assert result is not None and result.status == 'safety_stop', box
    assert 'clock stopped' in result.message or 'stale' in result.message, result
    wait_for(lambda: watcher.cmds and watcher.cmds[-1][1:] == (0.0, 0.0), 5.0,
             'a final zero command')
    last_moving = max((c[0] for c in watcher.cmds if c[1:] != (0.0, 0.0)), default=0.0)
    assert last_moving < killed_at + 2.0, 'non-zero commands long after the simulator died'


def _descendants(pid: int) -> set[int]:
    """Return the pids of every process below ``pid`` (from /proc)."""
    found: set[int] = set()
    for task in Path(f'/proc/{pid}/task').glob('*'):
        try:
            children = (task / 'children').read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found |= {child} | _descendants(child)
    return found


def _gone(pid: int) -> bool:
    try:
        state = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0]
    except OSError:
        return True
    return state in ('Z', 'X')  # a zombie runs nothing; whoever inherited it reaps it


def test_the_agent_killed_mid_episode_stops_the_robot_and_leaves_a_readable_transcript(
        robot, tmp_path):
    _sim, _skills, watcher = robot
    script = tmp_path / 'replies.yaml'
    script.write_text('completions:\n'
                      '  - "```python\\nprint(get_pose())\\n```"\n'
                      '  - "```python\\nmove(1.8)\\nprint(\'arrived\')\\n```"\n')
    runs = tmp_path / 'runs'
    agent = _start(tmp_path / 'agent.log', 'codeact_robot.nodes.agent_node', '--ros-args',
                   '-p', 'backend:=replay', '-p', f'llm_script:={script}',
                   '-p', f'runs_dir:={runs}')
    try:
        client = ActionClient(watcher.node, ExecuteCommand, ACTION_NAME)
        assert client.wait_for_server(timeout_sec=90.0), 'the agent node did not start'
        start = watcher.truth[-1][1:]
        sent = client.send_goal_async(ExecuteCommand.Goal(command='drive ahead a little'))
        wait_for(sent.done, 60.0, 'the agent to accept the command')
        wait_for(lambda: (watcher.speed() or 0.0) > 0.2, 90.0, 'the robot driving')
        sandbox = _descendants(agent.pid)
        os.kill(agent.pid, signal.SIGKILL)
        agent.wait(5.0)
        killed_at = time.monotonic()
        # Nobody waits for the goal any more: the skills node ends it (client heartbeat gone)
        # instead of driving the rest of the way for nobody.
        wait_for(lambda: (watcher.speed(0.2) or 1.0) < 0.02, 30.0, 'the robot at rest')
        rest = time.monotonic() - killed_at
        travelled = math.dist(start, watcher.truth[-1][1:])
        lost = [e for e in watcher.events if e.kind == 'client_lost']
        print(f'at rest {rest:.1f} s after the kill, {travelled:.2f} m from the start; '
              f'events: {[(e.kind, e.reason) for e in lost]}')
        assert lost, [(e.kind, e.reason) for e in watcher.events]
        assert travelled < 1.6, 'the robot drove on for nobody'
        wait_for(lambda: all(map(_gone, sandbox)), 10.0, 'the sandbox to die with the agent')
        # The transcript is whole up to the last finished turn: every line parses.
        (path,) = runs.glob('*.jsonl')
        records = read_transcript(path)
        assert records[0]['event'] == 'episode_start', records[0]
        turns = [r for r in records if r['event'] == 'turn']
        assert len(turns) == 1 and turns[0]['execution']['status'] == 'ok', turns[0]['observation']
    finally:
        _stop(agent)
