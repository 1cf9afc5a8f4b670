"""``codeact-robot exec FILE.py [--timeout S] [--robot sim|double]``: run a file in the sandbox.

Prints the structured result as JSON on stdout and a one-line summary on stderr. Exit status:
0 when the code ran to its end, 1 for any other outcome of the code (error, rejected, timeout,
killed, violation, crashed), 2 when the file or the robot could not be set up.

Example::

    codeact-robot exec plan.py --timeout 20 --robot double
    python -m codeact_robot.exec_cli plan.py
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from codeact_robot.api.robot_api import RobotApi
from codeact_robot.executor.executor import Executor, ExecutorError
from codeact_robot.executor.result import ExecutionLimits, ExecutionResult


def run_file(path: str | Path, timeout: float | None, api: RobotApi,
             limits: ExecutionLimits | None = None) -> ExecutionResult:
    """Run one Python file through a fresh executor against api and return the result."""
    code = Path(path).read_text(encoding='utf-8', errors='replace')
    limits = limits or ExecutionLimits(warm_pool=False)
    if timeout is not None:
        limits = ExecutionLimits(**{**limits.__dict__, 'call_timeout_s': timeout,
                                    'episode_timeout_s': max(timeout,
                                                             limits.episode_timeout_s)})
    with Executor(api=api, limits=limits) as executor:
        return executor.run(code)


@contextlib.contextmanager
def _double_robot() -> Iterator[RobotApi]:
    from codeact_robot.executor.offline_robot import OfflineRobotDouble
    yield OfflineRobotDouble()


@contextlib.contextmanager
def _embedded_robot() -> Iterator[RobotApi]:
    from codeact_robot.ros_env import localhost_only

    localhost_only()  # embedded mode: DDS stays on loopback
    from codeact_robot.nodes.bringup import start_embedded  # lazy: pulls in ROS and MuJoCo
    with start_embedded() as stack:
        yield stack.api


ROBOTS: dict[str, Callable[[], contextlib.AbstractContextManager[RobotApi]]] = {
    'sim': _embedded_robot,
    'double': _double_robot,
}


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of ``codeact-robot exec``."""
    parser = argparse.ArgumentParser(
        prog='codeact-robot exec',
        description='Run a Python file through the watchdog executor against the robot and '
                    'print the structured result as JSON.')
    parser.add_argument('file', help='Python file written against the robot API')
    parser.add_argument('--timeout', type=float, default=None, metavar='S',
                        help='wall-clock limit in seconds (default: 60)')
    parser.add_argument('--robot', choices=sorted(ROBOTS), default='sim',
                        help='sim: the embedded MuJoCo simulator (default); double: an '
                             'offline robot double without ROS, for trying the sandbox')
    return parser


def main(argv: list[str] | None = None,
         api_factory: Callable[[], contextlib.AbstractContextManager[RobotApi]] | None = None
         ) -> int:
    """Run ``codeact-robot exec``; return the process exit status."""
    args = build_parser().parse_args(argv)
    if args.timeout is not None and not 0 < args.timeout < 1e6:
        print('error: --timeout must be a positive number of seconds', file=sys.stderr)
        return 2
    path = Path(args.file)
    if not path.is_file():
        print(f'error: no such file: {path}', file=sys.stderr)
        return 2
    factory = api_factory or ROBOTS[args.robot]
    try:
        robot_cm = factory()
    except ImportError as exc:
        print(f'error: the {args.robot!r} robot is not available ({exc}); try --robot double',
              file=sys.stderr)
        return 2
    try:
        with robot_cm as api:
            result = run_file(path, args.timeout, api)
    except ExecutorError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    print(json.dumps(result.to_dict(), indent=2, default=_no_json))
    summary = f'{result.status.value} in {result.duration:.2f} s, {len(result.api_calls)} ' \
              'API calls'
    if result.exc_type:
        summary += f'; {result.exc_type}: {result.exc_message}'
    if result.robot_stopped:
        summary += '; robot stopped'
    print(summary, file=sys.stderr)
    return 0 if result.ok else 1


def _no_json(value: Any) -> str:
    return f'<{type(value).__name__}>'


if __name__ == '__main__':
    sys.exit(main())
