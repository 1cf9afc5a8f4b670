"""`codeact-robot`: run commands, chat, start the simulator or the agent node, run code safely.

codeact-robot run "bring the red box to the packing station"
codeact-robot chat
codeact-robot sim --scenario blocked_aisle_2
codeact-robot exec FILE.py --timeout 30
codeact-robot agent
codeact-robot demo
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from codeact_robot.executor.layers import SandboxUnavailableError

DEMO_EPISODES = (
    ('default', 'bring the red box to the packing station'),
    ('blocked_aisle_2', 'go to the packing station; if an aisle is blocked, find another way'),
)


# Subcommands whose arguments belong to another module's own parser.
PASSTHROUGH = {
    'sim': ('codeact_robot.nodes.sim_node', 'start the embedded MuJoCo simulator node'),
    'agent': ('codeact_robot.nodes.agent_node', 'start the agent node (ExecuteCommand)'),
    'skills': ('codeact_robot.nodes.skills_node', 'start the skills node (safety layer)'),
    'exec': ('codeact_robot.exec_cli', 'run a Python file through the watchdog'),
    'view': ('codeact_robot.nodes.view_node', 'serve a running robot to the Foxglove app'),
    'replay': ('codeact_robot.view.replay', 'draw a recorded episode (MCAP) as a PNG'),
}


def _session_arguments(parser: argparse.ArgumentParser) -> None:
    robot = parser.add_argument_group('robot')
    robot.add_argument('--world', default='warehouse', help='world in sim/worlds (name or path)')
    robot.add_argument('--scenario', default='default',
                       help='scenario in sim/scenarios: placements, blocked aisles, seed')
    robot.add_argument('--seed', type=int, default=None, help='simulator seed (default: the '
                       "scenario's)")
    robot.add_argument('--real-time-factor', type=float, default=1.0,
                       help='simulation speed over wall time; 0 = as fast as possible')
    robot.add_argument('--external', action='store_true',
                       help='connect to a robot/simulator that is already running instead of '
                            'starting the embedded simulator')
    llm = parser.add_argument_group('model')
    llm.add_argument('--backend', choices=['auto', 'ollama', 'llama_cpp', 'openai', 'replay'],
                     default=None, help='LLM backend (default from config/agent.yaml: auto = '
                     'Ollama if a server answers, else the embedded model)')
    llm.add_argument('--model', default=None, help='model name for the backend')
    llm.add_argument('--base-url', default=None, help='server URL (openai backend)')
    llm.add_argument('--replay', type=Path, default=None,
                     help='YAML/JSON file of scripted completions (replay backend)')
    llm.add_argument('--max-turns', type=int, default=None, help='turn limit per command')
    llm.add_argument('--max-seconds', type=float, default=None, help='time limit per command')
    llm.add_argument('--generation-timeout', type=float, default=None,
                     help='time limit of one model reply (the first reply of an episode '
                          'processes the whole system prompt: minutes on a busy CPU)')
    parser.add_argument('--runs-dir', type=Path, default=Path('runs'),
                        help='where each episode leaves its transcript and path plot')
    view = parser.add_argument_group('watching')
    view.add_argument('--view', action='store_true',
                      help='serve the live view to the Foxglove app (Foxglove WebSocket, '
                           'ws://127.0.0.1:PORT; layout config/foxglove_layout.json)')
    view.add_argument('--view-port', type=int, default=8765,
                      help='port of the live view (0 = any free port)')
    view.add_argument('--record', action='store_true',
                      help='record each episode to an MCAP file beside its transcript '
                           '(open it in the Foxglove app, or: codeact-robot replay FILE --png)')


def _options(args: argparse.Namespace, scenario: str | None = None):
    from codeact_robot.session import SessionOptions

    backend = args.backend or ('replay' if args.replay else None)
    return SessionOptions(world=args.world, scenario=scenario or args.scenario, seed=args.seed,
                          real_time_factor=args.real_time_factor, external=args.external,
                          backend=backend, model=args.model, base_url=args.base_url,
                          replay=args.replay, max_turns=args.max_turns,
                          max_episode_seconds=args.max_seconds,
                          generation_timeout=args.generation_timeout, runs_dir=args.runs_dir,
                          view=args.view, view_port=args.view_port, record=args.record)


def _report(outcome) -> None:
    verdict = 'DONE' if outcome.success else 'NOT DONE'
    print(f'\n{verdict} after {outcome.turns} turn(s): '
          f'{outcome.summary if outcome.success else outcome.failure_reason}')
    print(_robot_account(outcome, '  '))
    if outcome.run_dir:
        print(f'  transcript: {outcome.transcript}\n  path plot:  {outcome.plot}')
    if outcome.recording:
        print(f'  recording:  {outcome.recording}')


def _robot_account(outcome, indent: str) -> str:
    """Return what the robot did, in its own words (the model's summary is only its claim)."""
    if not outcome.actions:
        return f'{indent}robot: no motion or gripper action'
    return '\n'.join(f'{indent}robot: {line}' for line in outcome.actions)


def demo_summary(outcomes) -> str:
    """Return the demo's closing table: each command, the model's words, the robot's account."""
    lines = ['\n=== demo summary ===']
    for outcome in outcomes:
        said = outcome.summary if outcome.success else outcome.failure_reason
        lines.append(f"  {'done    ' if outcome.success else 'not done'}  {outcome.command!r}  "
                     f'({outcome.turns} turns)  {outcome.run_dir}\n            model: {said}')
        lines.append(_robot_account(outcome, ' ' * 12))
    return '\n'.join(lines)


def _cmd_run(args: argparse.Namespace) -> int:
    from codeact_robot.session import live_session

    with live_session(_options(args), sys.stdout) as session:
        _cancel_on_sigint(session)
        outcome = session.run(args.command)
    _report(outcome)
    return 0 if outcome.success else 1


def _cmd_chat(args: argparse.Namespace) -> int:
    from codeact_robot.session import live_session

    with live_session(_options(args), sys.stdout) as session:
        _cancel_on_sigint(session)
        print('Type a command for the robot; an empty line or Ctrl-D ends the session.')
        while True:
            try:
                command = input('robot> ').strip()
            except EOFError:
                break
            if not command:
                break
            _report(session.run(command))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from codeact_robot.session import live_session

    outcomes = []
    for scenario, command in DEMO_EPISODES:
        print(f'\n=== scenario {scenario}: "{command}" ===', flush=True)
        with live_session(_options(args, scenario), sys.stdout) as session:
            _cancel_on_sigint(session)
            outcome = session.run(command)
        _report(outcome)
        outcomes.append(outcome)
    print(demo_summary(outcomes))
    # The demo's job is to show the pipeline end to end; a small model may fail a task, which the
    # summary says. Infrastructure errors raise and fail the command.
    return 0


def _cancel_on_sigint(session) -> None:
    def handler(signum, frame):  # noqa: ARG001
        print('\ncanceling: stopping the code and the robot …', file=sys.stderr, flush=True)
        session.cancel()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    signal.signal(signal.SIGINT, handler)


def _passthrough(module: str):
    def run(args: argparse.Namespace) -> int:
        import importlib

        return int(importlib.import_module(module).main(args.rest) or 0)
    return run


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of `codeact-robot` (also used by the docs test)."""
    parser = argparse.ArgumentParser(
        prog='codeact-robot', description='Plain-language robot commands, the CodeAct way.')
    sub = parser.add_subparsers(dest='subcommand', required=True, metavar='COMMAND')
    run = sub.add_parser('run', help='run one command on the robot (embedded sim by default)')
    run.add_argument('command', help='what the robot should do, in plain language')
    _session_arguments(run)
    run.set_defaults(func=_cmd_run)
    chat = sub.add_parser('chat', help='an interactive session of several commands, one robot')
    _session_arguments(chat)
    chat.set_defaults(func=_cmd_chat)
    demo = sub.add_parser('demo', help='fetch-and-deliver, then replanning around a blocked aisle')
    _session_arguments(demo)
    # The demo must finish on a slow or busy 2-core machine: generous model and episode limits.
    demo.set_defaults(func=_cmd_demo, generation_timeout=600.0, max_seconds=1800.0)
    for name, (module, text) in PASSTHROUGH.items():
        p = sub.add_parser(name, help=text, add_help=False)
        p.add_argument('rest', nargs=argparse.REMAINDER)
        p.set_defaults(func=_passthrough(module))
    bench = sub.add_parser('bench', help='evaluate agents on the warehouse task suite '
                           '(codeact-robot bench agent --help)')
    bench.add_argument('what', choices=['agent'], help='what to benchmark')
    bench.add_argument('rest', nargs=argparse.REMAINDER)
    bench.set_defaults(func=_passthrough('codeact_robot.eval.cli'))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `codeact-robot`."""
    from codeact_robot.ros_env import localhost_only

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in PASSTHROUGH:
        # argparse's REMAINDER does not capture leading options (--scenario x), so hand the
        # arguments over before parsing.
        args = argparse.Namespace(subcommand=argv[0], rest=argv[1:],
                                  func=_passthrough(PASSTHROUGH[argv[0]][0]))
    else:
        args = build_parser().parse_args(argv)
    if args.subcommand in ('run', 'chat', 'demo', 'exec', 'bench') and not getattr(
            args, 'external', False):
        # The all-in-one modes' simulator and nodes are private to this run: keep DDS on
        # loopback. `sim`, `skills` and `agent` join the graph the environment names (ROS
        # defaults), so nodes started apart, as `ros2 launch` starts them, meet.
        localhost_only()
    os.environ.setdefault('MUJOCO_GL', 'egl')
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except SandboxUnavailableError as exc:  # the machine, not the run: no traceback
        print(f'codeact-robot: {exc}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
