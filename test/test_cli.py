"""The `codeact-robot` command line: every documented subcommand exists, and bad input fails
clearly before anything starts."""

import subprocess
import sys

import pytest

from codeact_robot.cli import build_parser, main

DOCUMENTED = ['run', 'chat', 'demo', 'sim', 'agent', 'skills', 'exec', 'bench']


def test_every_documented_subcommand_parses():
    parser = build_parser()
    for name in DOCUMENTED:
        argv = {'run': ['run', 'go to shelf B'], 'bench': ['bench', 'agent']}.get(name, [name])
        assert parser.parse_args(argv).subcommand == name


def test_run_options_reach_the_session_options():
    from codeact_robot.cli import _options

    args = build_parser().parse_args(
        ['run', 'x', '--scenario', 'blocked_aisle_2', '--seed', '3', '--max-turns', '4',
         '--backend', 'ollama', '--model', 'qwen2.5-coder:7b', '--real-time-factor', '2'])
    options = _options(args)
    assert (options.scenario, options.seed, options.max_turns) == ('blocked_aisle_2', 3, 4)
    assert (options.backend, options.model, options.real_time_factor) == (
        'ollama', 'qwen2.5-coder:7b', 2.0)
    replay = _options(build_parser().parse_args(['run', 'x', '--replay', 'script.yaml']))
    assert replay.backend == 'replay'
    demo = _options(build_parser().parse_args(['demo']))
    assert demo.generation_timeout >= 300 and demo.max_episode_seconds >= 900


def test_bad_arguments_exit_with_usage(capsys):
    with pytest.raises(SystemExit) as exc:
        main(['run'])
    assert exc.value.code == 2
    assert 'command' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(['run', 'x', '--backend', 'gpt-99'])


def test_console_script_prints_help():
    out = subprocess.run([sys.executable, '-m', 'codeact_robot.cli', '--help'],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for name in DOCUMENTED:
        assert name in out.stdout


def test_bench_agent_lists_the_task_suite():
    out = subprocess.run([sys.executable, '-m', 'codeact_robot.cli', 'bench', 'agent', '--list'],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert 'fetch_red' in out.stdout and 'replan_packing' in out.stdout


def test_passthrough_subcommands_get_their_options():
    out = subprocess.run([sys.executable, '-m', 'codeact_robot.cli', 'sim', '--help'],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and '--scenario' in out.stdout, out.stderr
    out = subprocess.run([sys.executable, '-m', 'codeact_robot.cli', 'exec', '--help'],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and '--timeout' in out.stdout, out.stderr


def test_the_report_and_the_demo_summary_give_the_robots_account_beside_the_models(capsys):
    # The model said only where it ended; the robot's account names the detour it took.
    from codeact_robot.cli import _report, demo_summary
    from codeact_robot.session import EpisodeOutcome

    detour = ("go_to('packing station'): arrived at packing station (found aisle 2 blocked "
              'and went round)')
    went = EpisodeOutcome(command='go to the packing station', success=True,
                          summary='I am at the packing station.', failure_reason='', turns=2,
                          run_dir=None, transcript=None, plot=None, actions=[detour])
    refused = EpisodeOutcome(command='drive into the battery storage', success=False,
                             summary='', failure_reason='keep-out zone', turns=1, run_dir=None,
                             transcript=None, plot=None)
    _report(went)
    assert f'robot: {detour}' in capsys.readouterr().out
    table = demo_summary([went, refused]).strip().splitlines()
    assert table[2].strip() == 'model: I am at the packing station.'
    assert table[3].strip() == f'robot: {detour}'
    assert table[4].startswith('  not done') and table[5].strip() == 'model: keep-out zone'
    assert table[6].strip() == 'robot: no motion or gripper action'
