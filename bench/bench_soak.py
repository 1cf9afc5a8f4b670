"""Soak: many CodeAct episodes back to back in one process; does anything grow?

    .venv/bin/python -m bench.bench_soak [--episodes 100]     (also: make soak)

Each episode starts a fresh embedded robot (simulator and skills node over real rclpy and DDS,
no camera), runs a scripted CodeAct episode through the watchdog executor (replay backend: the
model's replies are fixed, everything else is real) and closes the robot, as the evaluation
does. The episodes cycle through kinds that stress different paths: a motion, failing code,
code the watchdog kills at its time limit, a flood of output, a flood of API calls. After
each, this process's resident memory, open file descriptors, threads, child processes and
Fast DDS shared-memory segments are sampled; the slope over the episodes after a warm-up is
the leak rate. Every transcript must end with its episode_end record.
Writes bench/results/soak.json and bench/results/soak.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault('MUJOCO_GL', 'egl')

from bench.bench_llm import cpu_description  # noqa: E402
from bench.bench_sim import _commit  # noqa: E402
from codeact_robot.agent import AgentConfig, CodeActAgent, read_transcript  # noqa: E402
from codeact_robot.api.robot_api import RobotApi  # noqa: E402
from codeact_robot.llm import ReplayBackend  # noqa: E402
from codeact_robot.nodes.bringup import start_embedded  # noqa: E402
from codeact_robot.ros_env import SHM_DIR, localhost_only  # noqa: E402

RESULTS = Path(__file__).resolve().parent / 'results'
WARMUP = 10

#: (kind, task, the model's replies): what the watchdog and the loop go through.
EPISODES = [
    ('motion', 'drive a little and report',
     ['```python\nr = move(0.3)\nprint(r.status)\n```',
      '```python\ndone("drove 0.3 m")\n```']),
    ('failing code', 'divide by zero, then recover',
     ['```python\nprint(1 / 0)\n```',
      '```python\nprint(get_pose())\ndone("recovered")\n```']),
    ('timeout', 'spin forever',
     ['```python\nwhile True:\n    pass\n```',
      '```python\nfail("the loop was stopped")\n```']),
    ('output flood', 'print a lot',
     ['```python\nfor i in range(20000):\n    print("line", i, "x" * 80)\n```',
      '```python\ndone("printed")\n```']),
    ('api flood', 'ask for the pose many times',
     ['```python\nfor i in range(500):\n    p = get_pose()\nsay("x" * 200000)\nprint(p)\n```',
      '```python\ndone("asked")\n```']),
]


#: Kinds whose episodes end with done(); the others end with fail() on purpose.
SUCCEEDS = {'motion', 'failing code', 'output flood', 'api flood'}


def _process_sample() -> dict[str, float]:
    status = Path('/proc/self/status').read_text().splitlines()
    fields = dict(line.split(':', 1) for line in status if ':' in line)
    me = str(os.getpid())
    children = 0
    for entry in Path('/proc').iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / 'stat').read_text()
            except OSError:
                continue
            if stat.rsplit(')', 1)[1].split()[1] == me:
                children += 1
    try:
        segments = len(list(SHM_DIR.glob('fastdds_*')))
    except OSError:
        segments = 0
    return {'rss_mb': int(fields['VmRSS'].split()[0]) / 1024.0,
            'fds': len(os.listdir('/proc/self/fd')),
            'threads': int(fields['Threads']),
            'python_threads': threading.active_count(),
            'children': children, 'dds_shm_segments': segments}


def _slope(ys: list[float]) -> float:
    """Least-squares slope of ys against their index (per episode)."""
    if len(ys) < 2:
        return 0.0
    xs = range(len(ys))
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den


def run(episodes: int, runs_dir: Path) -> dict[str, object]:
    samples: list[dict[str, float]] = []
    outcomes: list[dict[str, object]] = []
    config = AgentConfig(max_turns=3, turn_timeout=3.0, max_episode_seconds=60.0,
                         n_examples=0, functions=RobotApi.LLM_FUNCTIONS)
    for i in range(episodes):
        kind, task, replies = EPISODES[i % len(EPISODES)]
        started = time.monotonic()
        with start_embedded(sim_params={'enable_camera': False}) as stack:
            agent = CodeActAgent(llm=ReplayBackend(replies), robot=stack.api,
                                 world=stack.api.world, config=config, runs_dir=runs_dir)
            with agent:
                result = agent.run(task)
        records = read_transcript(result.transcript_path)
        complete = bool(records) and records[-1]['event'] == 'episode_end'
        outcomes.append({'episode': i, 'kind': kind, 'success': result.success,
                         'turns': result.turns, 'seconds': round(time.monotonic() - started, 2),
                         'transcript_complete': complete,
                         'transcript_bytes': result.transcript_path.stat().st_size})
        sample = _process_sample()
        samples.append(sample)
        print(f'{i + 1:3d}/{episodes} {kind:13s} success={result.success!s:5s} '
              f'rss={sample["rss_mb"]:.0f} MB fds={sample["fds"]} threads={sample["threads"]} '
              f'children={sample["children"]} shm={sample["dds_shm_segments"]}', flush=True)
    steady = samples[WARMUP:] if len(samples) > WARMUP + 2 else samples
    keys = list(samples[0])
    return {
        'episodes': outcomes,
        'samples': samples,
        'slope_per_episode': {k: round(_slope([s[k] for s in steady]), 4) for k in keys},
        'first_last': {k: (samples[0][k], samples[-1][k]) for k in keys},
        'all_transcripts_complete': all(o['transcript_complete'] for o in outcomes),
        'all_as_expected': all(o['success'] == (o['kind'] in SUCCEEDS) for o in outcomes),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--episodes', type=int, default=100)
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    localhost_only()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix='soak-') as tmp:
        out = run(args.episodes, Path(tmp))
    slope = out['slope_per_episode']
    out.update({
        'benchmark': 'soak', 'command': 'python -m bench.bench_soak ' + ' '.join(argv),
        'commit': _commit(), 'wall_s': round(time.monotonic() - started, 1),
        'machine': {'cpu': cpu_description(), 'python': platform.python_version(),
                    'cpus': os.cpu_count()},
        'targets': {'rss_mb_per_episode_max': 1.0, 'fds_threads_children_growth': 0},
    })
    out['meets_targets'] = bool(
        slope['rss_mb'] <= 1.0 and out['all_transcripts_complete'] and out['all_as_expected']
        and all(abs(slope[k]) < 0.05 for k in ('fds', 'threads', 'children',
                                                 'dds_shm_segments')))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / 'soak.json').write_text(json.dumps(out, indent=2) + '\n')
    kinds = sorted({o['kind'] for o in out['episodes']})
    by_kind = {k: [o for o in out['episodes'] if o['kind'] == k] for k in kinds}
    lines = ['# Soak: CodeAct episodes back to back in one process', '',
             f'`{out["command"].strip()}` at commit {out["commit"]}, {out["machine"]["cpu"]}, '
             f'{len(out["episodes"])} episodes in {out["wall_s"]:.0f} s. Each episode: a fresh '
             'embedded robot (simulator + skills node over rclpy/DDS, no camera), a scripted '
             'CodeAct episode through the watchdog executor (replay backend), then close.', '',
             f'Slopes are least-squares fits per episode after the first {WARMUP} (warm-up).',
             '', '| measure | first | last | slope per episode | target |',
             '|---|---|---|---|---|']
    targets = {'rss_mb': '<= 1 MB', 'fds': '0', 'threads': '0', 'children': '0',
               'dds_shm_segments': '0', 'python_threads': '0'}
    for key, (first, last) in out['first_last'].items():
        lines.append(f'| {key} | {first:g} | {last:g} | {slope[key]:+.4f} | '
                     f'{targets.get(key, "")} |')
    lines += ['', '| kind | episodes | succeeded (expected) | mean s | transcripts complete |',
              '|---|---|---|---|---|']
    for kind, rows in by_kind.items():
        expected = len(rows) if kind in SUCCEEDS else 0
        lines.append(f'| {kind} | {len(rows)} | {sum(r["success"] for r in rows)} ({expected}) | '
                     f'{statistics.fmean(r["seconds"] for r in rows):.1f} | '
                     f'{sum(r["transcript_complete"] for r in rows)} |')
    lines += ['', 'The timeout episodes end failed by design: the watchdog kills the endless '
              'loop at its time limit and the scripted model then calls fail().', '',
              f'Targets met: {"yes" if out["meets_targets"] else "NO"}.']
    (RESULTS / 'soak.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))
    return 0 if out['meets_targets'] else 1


if __name__ == '__main__':
    sys.exit(main())
