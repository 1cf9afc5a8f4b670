r"""`codeact-robot bench agent`: run a task suite in several modes and write the table.

Example::

    codeact-robot bench agent --suite sim/tasks/warehouse.yaml --modes codeact json \\
        --backend llama_cpp --seeds 0 --out bench/results/eval --resume
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from codeact_robot.eval.suite import MODES, SuiteError, load_suite


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of `bench agent`."""
    p = argparse.ArgumentParser(
        prog='codeact-robot bench agent',
        description='Run the task suite with the CodeAct agent and/or the JSON tool-calling '
                    'baseline on the embedded simulator; write table.md/json/png and one '
                    'result.json plus transcript per episode.')
    p.add_argument('--suite', default='warehouse',
                   help='suite name (sim/tasks/<name>.yaml) or path (default: warehouse)')
    p.add_argument('--modes', nargs='+', default=list(MODES), choices=MODES,
                   help='agent modes to compare (default: codeact json)')
    p.add_argument('--backend', '--backends', dest='backends', nargs='+', default=['llama_cpp'],
                   help='LLM backends: llama_cpp, ollama, openai, replay (the tasks\' scripted '
                        'reference replies) (default: llama_cpp)')
    p.add_argument('--model', default=None, help='model name or path for the backend')
    p.add_argument('--base-url', default=None, help='OpenAI-compatible server URL')
    p.add_argument('--threads', type=int, default=None,
                   help='llama.cpp threads (default: the backend\'s, 2)')
    p.add_argument('--seeds', nargs='+', type=int, default=[0],
                   help='simulator seeds (a task with its own seed keeps it) (default: 0)')
    p.add_argument('--tasks', default='', help='comma-separated task ids (default: all)')
    p.add_argument('--out', type=Path, default=Path('bench/results/eval'),
                   help='output folder (default: bench/results/eval)')
    p.add_argument('--resume', action='store_true',
                   help='keep episodes whose result.json exists; run only the missing ones')
    p.add_argument('--max-turns', type=int, default=8, help='turn limit per episode (8)')
    p.add_argument('--max-episode-seconds', type=float, default=900.0,
                   help='wall-clock limit per episode (900)')
    p.add_argument('--generation-timeout', type=float, default=300.0,
                   help='model wall clock per turn, s (300: the first prompt of a run takes '
                        'a minute on 2 idle cores, far longer on a busy machine)')
    p.add_argument('--real-time-factor', type=float, default=1.0,
                   help='simulation speed over wall time (default 1.0)')
    p.add_argument('--report-only', action='store_true',
                   help='do not run episodes; rebuild the table from the results in --out')
    p.add_argument('--record', action='store_true',
                   help='record each episode to an MCAP file beside its transcript '
                        '(codeact-robot replay FILE --png draws one)')
    p.add_argument('--list', action='store_true', help='list the suite\'s tasks and exit')
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run `bench agent`; return the exit code (0 ok, 2 bad arguments or suite)."""
    args = build_parser().parse_args(argv)
    try:
        suite = load_suite(args.suite)
        tasks = suite.select([t for t in args.tasks.split(',') if t.strip()])
    except (SuiteError, KeyError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    if args.list:
        for t in suite.tasks:
            print(f'{t.id:24} {t.category:13} {t.scenario:26} {t.command}')
        return 0
    from codeact_robot.eval.report import write_report

    command = 'codeact-robot bench agent ' + shlex.join(
        list(argv) if argv is not None else sys.argv[1:])
    if not args.report_only:
        from codeact_robot.agent.loop import AgentConfig
        from codeact_robot.eval.runner import EvalRunner, EvalSettings

        backend_config = {k: v for k, v in (('model', args.model), ('base_url', args.base_url),
                                            ('n_threads', args.threads)) if v}
        if args.model and 'llama_cpp' in args.backends:
            backend_config['model_path'] = backend_config.pop('model')
        settings = EvalSettings(
            agent=AgentConfig(max_turns=args.max_turns,
                              max_episode_seconds=args.max_episode_seconds,
                              generation_timeout=args.generation_timeout),
            backend_config=backend_config, real_time_factor=args.real_time_factor,
            record=args.record)
        with EvalRunner(suite, args.out, settings) as runner:
            runner.run(tasks, args.modes, args.backends, args.seeds, resume=args.resume)
    paths = write_report(args.out, command=command,
                         title=f'Agent evaluation: suite {suite.name}')
    for kind, path in paths.items():
        print(f'{kind}: {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
