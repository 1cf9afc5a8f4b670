"""Robot API benchmark: call latency (get_pose, perceive, plan_route) and stop latency.

    .venv/bin/python -m bench.bench_robot_api [--stops 8] [--pose-calls 1000]

Runs the embedded stack (sim_node + skills_node + RosRobotApi over real rclpy, real_time_factor
1, camera on) in this process. Stop latency is measured from the stop request (the watchdog's
non-blocking emergency_stop(), and the blocking stop()) to the first zero /cmd_vel message seen
by an independent subscriber, and to the robot being at rest by ground truth.
Writes bench/results/robot_api.json and bench/results/robot_api.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import threading
import time
from pathlib import Path

os.environ.setdefault('MUJOCO_GL', 'egl')

from geometry_msgs.msg import Twist  # noqa: E402
from rclpy.node import Node  # noqa: E402

from codeact_robot.nodes.bringup import start_embedded  # noqa: E402
from codeact_robot_interfaces.msg import GroundTruth  # noqa: E402

RESULTS = Path(__file__).resolve().parent / 'results'


def _stats(samples: list[float], scale: float = 1000.0) -> dict[str, float]:
    """Return n, mean, p50, p95, max of samples (seconds) in ms (scale 1000)."""
    s = sorted(samples)
    p95 = s[min(len(s) - 1, math.ceil(0.95 * len(s)) - 1)]
    return {'n': len(s), 'mean': statistics.fmean(s) * scale,
            'p50': statistics.median(s) * scale, 'p95': p95 * scale, 'max': s[-1] * scale}


class _Probe:
    """Independent subscriber: /cmd_vel arrival times and the true speed."""

    def __init__(self, node: Node) -> None:
        self.lock = threading.Lock()
        self.cmds: list[tuple[float, float, float]] = []
        self.rest: list[tuple[float, float]] = []  # (monotonic, true speed)
        self._last: tuple[float, float, float] | None = None
        node.create_subscription(Twist, '/cmd_vel', self._on_cmd, 100)
        node.create_subscription(GroundTruth, '/sim/ground_truth', self._on_truth, 50)

    def _on_cmd(self, msg: Twist) -> None:
        with self.lock:
            self.cmds.append((time.perf_counter(), msg.linear.x, msg.angular.z))

    def _on_truth(self, msg: GroundTruth) -> None:
        t = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9
        if self._last is not None and t > self._last[0]:
            speed = math.dist((msg.robot.x, msg.robot.y), self._last[1:]) / (t - self._last[0])
            with self.lock:
                self.rest.append((time.perf_counter(), speed))
        self._last = (t, msg.robot.x, msg.robot.y)

    def first_zero_after(self, t0: float, timeout: float = 2.0) -> float | None:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with self.lock:
                hit = next((t for t, v, w in self.cmds if t >= t0 and v == 0.0 and w == 0.0),
                           None)
            if hit is not None:
                return hit - t0
            time.sleep(0.001)
        return None

    def at_rest_after(self, t0: float, timeout: float = 5.0) -> float | None:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with self.lock:
                hit = next((t for t, s in self.rest if t >= t0 and s < 0.01), None)
            if hit is not None:
                return hit - t0
            time.sleep(0.005)
        return None

    def moving(self) -> bool:
        with self.lock:
            recent = [c for c in self.cmds if c[0] > time.perf_counter() - 0.2]
        return any(abs(v) > 0.1 for _, v, _w in recent)


def _measure_stops(api, probe: _Probe, n: int, blocking: bool) -> dict[str, list[float]]:
    to_zero: list[float] = []
    to_rest: list[float] = []
    goals = [(2.6, 6.1), (2.6, 1.9)]
    for i in range(n):
        goal = goals[i % 2]
        t = threading.Thread(target=api.move_to, args=goal, daemon=True)
        t.start()
        deadline = time.monotonic() + 20.0
        while not probe.moving() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.5)  # cruising
        t0 = time.perf_counter()
        if blocking:
            api.stop()
        else:
            api.emergency_stop('benchmark')
        zero = probe.first_zero_after(t0)
        rest = probe.at_rest_after(t0)
        t.join(10.0)
        if zero is not None:
            to_zero.append(zero)
        if rest is not None:
            to_rest.append(rest)
    return {'to_zero': to_zero, 'to_rest': to_rest}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--stops', type=int, default=8)
    parser.add_argument('--pose-calls', type=int, default=1000)
    parser.add_argument('--perceive-calls', type=int, default=10)
    args = parser.parse_args(argv)
    stack = start_embedded(scenario='default', real_time_factor=1.0)
    try:
        probe = _Probe(stack.runner.add(Node('bench_probe', context=stack.runner.context)))
        api = stack.api
        pose = []
        for _ in range(args.pose_calls):
            t0 = time.perf_counter()
            api.get_pose()
            pose.append(time.perf_counter() - t0)
        plan = []
        for goal in [(9.5, 6.1), (6.0, 1.85), (10.45, 4.0)] * 3:
            t0 = time.perf_counter()
            assert api.plan_route(*goal).ok
            plan.append(time.perf_counter() - t0)
        api.go_to('shelf B')
        t0 = time.perf_counter()
        api.perceive()
        perceive_first = time.perf_counter() - t0
        perceive = []
        for _ in range(args.perceive_calls):
            t0 = time.perf_counter()
            api.perceive()
            perceive.append(time.perf_counter() - t0)
        api.go_to('aisle 2 west')
        soft = _measure_stops(api, probe, args.stops, blocking=False)
        hard = _measure_stops(api, probe, max(2, args.stops // 2), blocking=True)
    finally:
        stack.close()
    period = 1.0 / 20.0
    results = {
        'machine': {'platform': platform.platform(), 'cpus': os.cpu_count()},
        'setup': 'embedded sim_node + skills_node + RosRobotApi over rclpy (Fast DDS, '
                 'localhost), real_time_factor 1, camera 320x240 at 10 Hz',
        'get_pose_us': _stats(pose, 1e6),
        'plan_route_ms': _stats(plan),
        'perceive_first_call_ms': perceive_first * 1000.0,
        'perceive_ms': _stats(perceive),
        'emergency_stop_to_zero_cmd_ms': _stats(soft['to_zero']),
        'emergency_stop_to_rest_ms': _stats(soft['to_rest']) if soft['to_rest'] else None,
        'stop_to_zero_cmd_ms': _stats(hard['to_zero']),
        'control_period_ms': period * 1000.0,
        'stops_missing_zero': args.stops - len(soft['to_zero']),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / 'robot_api.json').write_text(json.dumps(results, indent=2) + '\n')
    rows = [('get_pose() (microseconds)', results['get_pose_us']),
            ('plan_route()', results['plan_route_ms']),
            ('perceive()', results['perceive_ms']),
            ('emergency_stop() -> zero /cmd_vel', results['emergency_stop_to_zero_cmd_ms']),
            ('stop() -> zero /cmd_vel', results['stop_to_zero_cmd_ms'])]
    if results['emergency_stop_to_rest_ms']:
        rows.append(('emergency_stop() -> at rest (ground truth)',
                     results['emergency_stop_to_rest_ms']))
    lines = ['# Robot API latency', '', results['setup'] + f'; {platform.platform()}, '
             f'{os.cpu_count()} CPUs.', '',
             'Machine load from other processes at run time affects every row.', '',
             '| call | n | mean ms | p50 ms | p95 ms | max ms |', '|---|---|---|---|---|---|']
    lines += [f'| {name} | {s["n"]} | {s["mean"]:.3f} | {s["p50"]:.3f} | {s["p95"]:.3f} | '
              f'{s["max"]:.3f} |' for name, s in rows]
    lines += ['', f'First perceive() after idle (camera stream starts): '
              f'{results["perceive_first_call_ms"]:.0f} ms. Control period: '
              f'{period * 1000:.0f} ms; a stop must zero the command within one period.']
    (RESULTS / 'robot_api.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
