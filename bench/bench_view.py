"""What watching costs: CPU and episode time with and without the live view and recording.

    .venv/bin/python -m bench.bench_view [--seconds 20]

Two measurements, each on a fresh embedded robot stack (simulator + skills node in this
process, real time):
- at rest: this process's CPU (user + system, % of one core) over ``--seconds`` with the robot
  standing still: no view; the view serving with no client connected; the view with a client
  watching every channel (camera included, which makes the simulator render); recording only.
  Target: the view costs < 10 % of a core when no client is connected.
- an episode: the same scripted three-turn episode (replay backend: drive 0.8 m, drive back
  0.4 m on a planned route, done) through `RobotSession`, without the view, with `--view` (no
  client) and with `--record`: wall time, CPU, and the recording's size.
Writes bench/results/view.json and bench/results/view.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault('MUJOCO_GL', 'egl')

from bench.bench_llm import cpu_description  # noqa: E402
from bench.bench_sim import _commit  # noqa: E402
from codeact_robot.ros_env import localhost_only  # noqa: E402

RESULTS = Path(__file__).resolve().parent / 'results'
TARGET_IDLE_VIEW_PCT = 10.0
SCRIPT = ("- |\n  ```python\n  print(get_pose())\n  move(0.8)\n  ```\n"
          "- |\n  ```python\n  p = get_pose()\n  move_to(p.x - 0.4, p.y)\n  ```\n"
          "- |\n  ```python\n  done('moved 0.8 m and back 0.4 m')\n  ```\n")


def _cpu_pct(seconds: float) -> float:
    """Return this process's CPU over the next ``seconds`` of wall time, in % of one core."""
    cpu, wall = time.process_time(), time.monotonic()
    time.sleep(seconds)
    return 100.0 * (time.process_time() - cpu) / (time.monotonic() - wall)


def at_rest(case: str, seconds: float, warmup: float = 3.0) -> dict[str, float | str]:
    """Measure one at-rest case on a fresh stack."""
    from rclpy.parameter import Parameter

    from codeact_robot.nodes.bringup import start_embedded
    from codeact_robot.nodes.view_node import ViewNode
    from codeact_robot.view.client import ViewClient

    stack = start_embedded('warehouse', 'default')
    client = None
    out: dict[str, float | str] = {'case': case}
    try:
        if case != 'no view':
            view = stack.runner.add(ViewNode(
                world=stack.api.world, context=stack.runner.context,
                parameter_overrides=[Parameter('live', value=case != 'recording only'),
                                     Parameter('port', value=0)]))
            if case == 'recording only':
                recording = Path(tempfile.mkdtemp()) / 'rest.mcap'
                view.start_recording(recording)
            if case == 'client watching everything':
                client = ViewClient(view.port, decode=False)
                client.wait_for(['/camera/image_raw', '/view/objects'], timeout=30)
        time.sleep(warmup)
        out['cpu_pct'] = _cpu_pct(seconds)
        if client is not None:
            out['messages_received'] = sum(len(v) for v in client.received.values())
        if case == 'recording only':
            view.stop_recording()
            out['recording_bytes_per_s'] = recording.stat().st_size / (seconds + warmup)
    finally:
        if client is not None:
            client.close()
        stack.close()
    return out


def episode(case: str, runs: Path) -> dict[str, float | str]:
    """Run the scripted episode through RobotSession; return wall time, CPU and sizes."""
    from codeact_robot.session import RobotSession, SessionOptions

    script = runs / 'script.yaml'
    script.write_text(SCRIPT)
    options = SessionOptions(backend='replay', replay=script,
                             runs_dir=runs / case.strip('-').replace(' ', '_'),
                             view=case == '--view', view_port=0, record=case == '--record')
    with RobotSession(options) as session:
        cpu, wall = time.process_time(), time.monotonic()
        outcome = session.run('move forward 0.8 m, then back 0.4 m')
        wall = time.monotonic() - wall
        cpu = time.process_time() - cpu
    out: dict[str, float | str] = {'case': case, 'success': outcome.success,
                                   'wall_s': wall, 'cpu_s': cpu,
                                   'cpu_pct': 100.0 * cpu / wall}
    if outcome.recording is not None:
        out['recording_bytes'] = outcome.recording.stat().st_size
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seconds', type=float, default=20.0, help='wall seconds per rest case')
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    localhost_only()
    rest = []
    for case in ('no view', 'view, no client', 'client watching everything', 'recording only'):
        rest.append(at_rest(case, args.seconds))
        print(f'at rest  {case:28s} {rest[-1]["cpu_pct"]:6.1f} % of a core', flush=True)
    base = rest[0]['cpu_pct']
    for r in rest:
        r['over_no_view_pct'] = r['cpu_pct'] - base
    runs = Path(tempfile.mkdtemp(prefix='bench_view_'))
    episodes = []
    for case in ('no view', '--view', '--record'):
        episodes.append(episode(case, runs))
        e = episodes[-1]
        print(f'episode  {case:10s} {e["wall_s"]:6.1f} s wall, {e["cpu_pct"]:5.1f} % CPU, '
              f'success {e["success"]}', flush=True)
    idle_view = rest[1]['over_no_view_pct']
    load = os.getloadavg()
    out = {'benchmark': 'view', 'command': 'python -m bench.bench_view ' + ' '.join(argv),
           'commit': _commit(),
           'machine': {'cpu': cpu_description(), 'python': platform.python_version(),
                       'cpus': os.cpu_count(), 'loadavg_1m_after': round(load[0], 2)},
           'target': {'idle_view_pct_of_core_below': TARGET_IDLE_VIEW_PCT,
                      'met': idle_view < TARGET_IDLE_VIEW_PCT},
           'at_rest': rest, 'episodes': episodes}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / 'view.json').write_text(json.dumps(out, indent=2, default=float) + '\n')
    lines = ['# What watching costs (live view and recording)', '',
             f'`{out["command"].strip()}` at commit {out["commit"]}, {out["machine"]["cpu"]}, '
             f'1-minute load average after the run {out["machine"]["loadavg_1m_after"]}.', '',
             f'At rest ({args.seconds:g} s, robot standing, this process = simulator + skills '
             'node + view):', '',
             '| case | CPU, % of one core | over no view | notes |', '|---|---|---|---|']
    for r in rest:
        notes = (f'{r["messages_received"]} messages received' if 'messages_received' in r
                 else f'{r["recording_bytes_per_s"] / 1024:.0f} KiB/s recorded'
                 if 'recording_bytes_per_s' in r else '')
        lines.append(f'| {r["case"]} | {r["cpu_pct"]:.1f} | {r["over_no_view_pct"]:+.1f} '
                     f'| {notes} |')
    lines += ['', f'Target: the view with no client connected costs < {TARGET_IDLE_VIEW_PCT:g} % '
              f'of a core: {"met" if out["target"]["met"] else "NOT met"} '
              f'({idle_view:+.1f} %).', '',
              'The scripted episode (three turns, replay backend):', '',
              '| case | done | wall s | CPU s | CPU % | recording |', '|---|---|---|---|---|---|']
    for e in episodes:
        size = f'{e["recording_bytes"] / 1e6:.2f} MB' if 'recording_bytes' in e else ''
        lines.append(f'| {e["case"]} | {e["success"]} | {e["wall_s"]:.1f} | {e["cpu_s"]:.1f} '
                     f'| {e["cpu_pct"]:.0f} | {size} |')
    lines.append('')
    (RESULTS / 'view.md').write_text('\n'.join(lines))
    return 0 if out['target']['met'] else 1


if __name__ == '__main__':
    sys.exit(main())
