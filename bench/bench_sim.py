"""Simulator benchmark: real-time factor headless, without a camera and with a 10 Hz camera.

    .venv/bin/python -m bench.bench_sim [--seconds 20]

Two layers are measured, each driving the robot through the warehouse (a curving cmd_vel):
- core: WarehouseSim stepped as fast as possible with the node's sensor schedule (250 Hz physics,
  50 Hz odometry, 10 Hz 360-ray lidar, and optionally a 10 Hz 320x240 RGB-D render);
- node: sim_node over rclpy with real_time_factor 0 (as fast as possible), a probe subscribing
  to the scan (and to both camera images in the camera case, which is what makes it render).
Targets on the 2-core machine: >= 5x without camera, >= 1x with the camera.
Writes bench/results/sim.json and bench/results/sim.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault('MUJOCO_GL', 'egl')

from bench.bench_llm import cpu_description  # noqa: E402
from codeact_robot.ros_env import localhost_only  # noqa: E402
from codeact_robot.sim import WarehouseSim  # noqa: E402

RESULTS = Path(__file__).resolve().parent / 'results'
TARGETS = {'no camera': 5.0, 'camera 10 Hz 320x240': 1.0}


def _command(t: float) -> tuple[float, float]:
    """A gentle slalom in the open west area, staying clear of walls for a long time."""
    return 0.3, 0.6 * math.sin(0.5 * t)


def _commit() -> str:
    try:
        return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def bench_core(seconds: float, camera: bool) -> dict[str, float]:
    """Return the core loop's real-time factor over ``seconds`` of wall time."""
    sim = WarehouseSim(scenario='default')
    rates = {'odom': 50.0, 'scan': 10.0, 'camera': 10.0}
    nxt = {k: 0.0 for k in rates}
    frames = scans = 0
    render_wall = 0.0
    if camera:
        sim.render_rgbd(320, 240)  # context creation is a one-off cost, not throughput
    sim_start, wall_start = sim.time, time.perf_counter()
    while time.perf_counter() - wall_start < seconds:
        target = min(nxt.values())
        sim.set_cmd_vel(*_command(sim.time))
        sim.step(max(1, math.ceil((target - sim.time) / sim.timestep - 1e-6)))
        t = sim.time
        if t >= nxt['odom']:
            sim.odometry()
            nxt['odom'] += 1 / rates['odom']
        if t >= nxt['scan']:
            sim.lidar_scan()
            scans += 1
            nxt['scan'] += 1 / rates['scan']
        if t >= nxt['camera']:
            if camera:
                r0 = time.perf_counter()
                sim.render_rgbd(320, 240)
                render_wall += time.perf_counter() - r0
                frames += 1
            nxt['camera'] += 1 / rates['camera']
    wall = time.perf_counter() - wall_start
    simulated = sim.time - sim_start
    sim.close()
    return {'rtf': simulated / wall, 'sim_seconds': simulated, 'wall_seconds': wall,
            'frames': frames, 'scans': scans,
            'ms_per_frame': 1000 * render_wall / frames if frames else None}


def bench_node(seconds: float, camera: bool) -> dict[str, float]:
    """Return sim_node's real-time factor (real_time_factor 0) over ``seconds`` of wall time."""
    from geometry_msgs.msg import Twist, Vector3
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image, LaserScan

    from codeact_robot.nodes.runner import NodeRunner, wait_for
    from codeact_robot.nodes.sim_node import SimNode

    counts = {'scan': 0, 'image': 0, 'depth': 0}
    lock = threading.Lock()

    def count(key):
        def callback(_msg):
            with lock:
                counts[key] += 1
        return callback

    with NodeRunner() as runner:
        sim = runner.add(SimNode(context=runner.context, parameter_overrides=[
            Parameter('real_time_factor', value=0.0),
            Parameter('enable_camera', value=camera)]))
        probe = runner.add(Node('bench_probe', context=runner.context))
        probe.create_subscription(LaserScan, '/scan', count('scan'), qos_profile_sensor_data)
        if camera:
            probe.create_subscription(Image, '/camera/image_raw', count('image'),
                                      qos_profile_sensor_data)
            probe.create_subscription(Image, '/camera/depth/image_raw', count('depth'),
                                      qos_profile_sensor_data)
            wait_for(lambda: counts['image'] > 0, 60, 'first camera image')
        else:
            wait_for(lambda: counts['scan'] > 0, 60, 'first scan')
        cmd = probe.create_publisher(Twist, '/cmd_vel', 10)
        sim_start = sim.locked(lambda s: s.time)
        wall_start = time.perf_counter()
        with lock:
            base = dict(counts)
        while time.perf_counter() - wall_start < seconds:
            # A 20 Hz (wall) commander; the probe does not subscribe to /clock, whose 100 Hz
            # sim-time stream at a high real-time factor would load this process, not the sim.
            v, w = _command(sim.locked(lambda s: s.time))
            cmd.publish(Twist(linear=Vector3(x=v), angular=Vector3(z=w)))
            time.sleep(0.05)
        wall = time.perf_counter() - wall_start
        simulated = sim.locked(lambda s: s.time) - sim_start
        with lock:
            got = {k: counts[k] - base[k] for k in counts}
    return {'rtf': simulated / wall, 'sim_seconds': simulated, 'wall_seconds': wall,
            'scans_received': got['scan'], 'images_received': got['image'],
            'depth_received': got['depth']}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seconds', type=float, default=15.0, help='wall seconds per case')
    parser.add_argument('--skip-node', action='store_true', help='only the ROS-free core')
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    localhost_only()
    rows = []
    for layer in ('core', 'node'):
        if layer == 'node' and args.skip_node:
            continue
        for case, camera in (('no camera', False), ('camera 10 Hz 320x240', True)):
            run = bench_core if layer == 'core' else bench_node
            result = run(args.seconds, camera)
            result = {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}
            rows.append({'layer': layer, 'case': case, 'target_rtf': TARGETS[case],
                         'meets_target': result['rtf'] >= TARGETS[case], **result})
            print(f'{layer:5s} {case:22s} RTF {result["rtf"]:6.2f} '
                  f'(target >= {TARGETS[case]}x)', flush=True)
    load = os.getloadavg()
    out = {'benchmark': 'sim', 'command': 'python -m bench.bench_sim ' + ' '.join(argv or []),
           'commit': _commit(),
           'machine': {'cpu': cpu_description(), 'python': platform.python_version(),
                       'cpus': os.cpu_count(),
                       'loadavg_1m_after': round(load[0], 2), 'mujoco_gl':
                       os.environ.get('MUJOCO_GL', '')},
           'physics_rate_hz': 250, 'lidar_rays': 360, 'results': rows}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / 'sim.json').write_text(json.dumps(out, indent=2) + '\n')
    lines = ['# Simulator real-time factor (headless)', '',
             f'`{out["command"].strip()}` at commit {out["commit"]}, '
             f'{out["machine"]["cpu"]}, '
             f'1-minute load average after the run {out["machine"]["loadavg_1m_after"]} '
             '(the machine is shared, so numbers vary with load).', '',
             '| layer | case | RTF | target | met | sim s | wall s | notes |',
             '|---|---|---|---|---|---|---|---|']
    for r in rows:
        notes = (f'{r["ms_per_frame"]:.1f} ms/frame (RGB+depth, one render)'
                 if r.get('ms_per_frame') else
                 f'{r.get("images_received", 0)} images received'
                 if r['layer'] == 'node' and 'camera' in r['case'] else '')
        lines.append(f'| {r["layer"]} | {r["case"]} | {r["rtf"]:.2f}x | >= {r["target_rtf"]:g}x '
                     f'| {"yes" if r["meets_target"] else "NO"} | {r["sim_seconds"]:.1f} '
                     f'| {r["wall_seconds"]:.1f} | {notes} |')
    lines += ['', 'core = WarehouseSim with the node\'s sensor schedule, no ROS; node = sim_node '
              'over rclpy/DDS with real_time_factor 0 and a subscribing probe.', '']
    (RESULTS / 'sim.md').write_text('\n'.join(lines))
    return 0 if all(r['meets_target'] for r in rows) else 1


if __name__ == '__main__':
    raise SystemExit(main())
