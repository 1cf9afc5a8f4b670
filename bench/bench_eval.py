"""Evaluation benchmark: the suite's reference replies (replay backend) in both modes.

Runs every task of sim/tasks/warehouse.yaml with its scripted reference replies through the real
stack (embedded simulator, skills node, robot API, executor or JSON tool calls) and reports which
tasks the reference solves (a task it does not solve points at a suite, simulator or skills
problem, not at a model) and what one episode costs (start-up, episode time).

    .venv/bin/python -m bench.bench_eval [--tasks id1,id2] [--resume]

Writes bench/results/eval.json and bench/results/eval.md; the episodes (results, transcripts)
stay in bench/results/eval_replay/. The model table (llama.cpp, both modes) is made by
`codeact-robot bench agent`, see docs/EVALUATION.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

from codeact_robot.eval.cli import main as bench_agent
from codeact_robot.eval.report import aggregate, load_records
from codeact_robot.ros_env import localhost_only

RESULTS = Path(__file__).resolve().parent / 'results'


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--tasks', default='', help='comma-separated task ids (default: all)')
    p.add_argument('--resume', action='store_true', help='keep finished episodes')
    args = p.parse_args(argv)
    localhost_only()
    out = RESULTS / 'eval_replay'
    command = ['--backend', 'replay', '--modes', 'codeact', 'json', '--seeds', '0',
               '--out', str(out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd())
                            else out)]
    if args.tasks:
        command += ['--tasks', args.tasks]
    if args.resume:
        command.append('--resume')
    start = time.monotonic()
    code = bench_agent(command)
    wall = time.monotonic() - start
    if code:
        return code
    wanted = set(args.tasks.split(',')) if args.tasks else None
    records = [r for r in load_records(out) if wanted is None or r['task'] in wanted]
    rows = aggregate(records)
    unsolved = sorted(f'{r["mode"]} {r["task"]}' for r in records if not r['success'])
    startup = [r['startup_seconds'] for r in records if 'startup_seconds' in r]
    result = {
        'benchmark': 'eval', 'command': 'python -m bench.bench_eval ' + ' '.join(argv or []),
        'machine': {'python': platform.python_version(), 'cpus': _cpus()},
        'episodes': len(records), 'wall_seconds': round(wall, 1),
        'mean_startup_seconds': round(statistics.fmean(startup), 2) if startup else None,
        'reference_rows': rows, 'unsolved_by_reference': unsolved,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / 'eval.json').write_text(json.dumps(result, indent=2) + '\n', encoding='utf-8')
    lines = [
        '# Evaluation benchmark: reference replies (replay backend)', '',
        f'`{result["command"]}`: {len(records)} episodes in {wall:.0f} s wall time on '
        f'{_cpus()} CPUs; mean start-up of a fresh embedded robot '
        f'{result["mean_startup_seconds"]} s.', '',
        '| mode | episodes | solved % | mean turns | mean episode time (s) '
        '| safety interventions |',
        '|---|---|---|---|---|---|']
    for r in rows:
        lines.append(f'| {r["mode"]} | {r["episodes"]} | {r["success_pct"]} | '
                     f'{r["mean_turns"]} | {r["mean_seconds"]} | {r["safety_interventions"]} |')
    lines += ['', 'Not solved by the reference replies (see '
              f'{out.name}/table.md for the failed predicates): '
              + (', '.join(unsolved) if unsolved else 'none'), '']
    (RESULTS / 'eval.md').write_text('\n'.join(lines), encoding='utf-8')
    print('\n'.join(lines))
    return 0


def _cpus() -> int:
    import os
    return len(os.sched_getaffinity(0))


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
