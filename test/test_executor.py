"""Executor behaviour with a real sandboxed child and a recording robot double."""

from __future__ import annotations

import json
import os
import socket
import threading
import time

import pytest
from executor_doubles import RecordingRobotApiDouble

from codeact_robot import exec_cli as cli
from codeact_robot.api.types import MoveResult, Pose
from codeact_robot.executor import (
    ExecStatus,
    ExecutionLimits,
    Executor,
    SandboxUnavailableError,
    check_code,
)
from codeact_robot.executor.layers import DEGRADED_ENV, LAYERS
from codeact_robot.executor.wire import (
    ChannelTimeout,
    FrameReader,
    ProtocolError,
    conform,
    decode_arg,
    encode_result,
    send_frame,
)

LIMITS = ExecutionLimits(call_timeout_s=10.0, warm_pool=False)


@pytest.fixture(scope='module')
def robot():
    return RecordingRobotApiDouble()


@pytest.fixture(scope='module')
def ex(robot):
    done = []
    executor = Executor(api=robot, functions=robot.LLM_FUNCTIONS + ('done',),
                        extra_functions={'done': lambda answer: done.append(answer)},
                        limits=LIMITS)
    executor.done_calls = done
    yield executor
    pids = executor.child_pids()
    executor.close()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_sandbox_layers_are_active(ex):
    layers = ex.sandbox_layers
    print('sandbox layers:', layers)
    assert layers['rlimits'] and layers['no_new_privs']
    assert layers['network'] in ('netns', 'userns+netns')
    assert layers['landlock_abi'] >= 1
    assert layers['seccomp'] is True
    if os.geteuid() == 0:
        assert layers['dropped_root'] is True


@pytest.mark.parametrize('layer', list(LAYERS))
def test_a_missing_os_layer_makes_the_executor_refuse_to_start(robot, layer, monkeypatch):
    monkeypatch.delenv(DEGRADED_ENV, raising=False)
    if layer == 'drop_root' and os.geteuid() != 0:
        pytest.skip('drop_root applies only to a root host (this host is not root)')
    with pytest.raises(SandboxUnavailableError) as refused:
        Executor(api=robot, limits=LIMITS, simulate_missing_layers=[layer])
    text = str(refused.value)
    print(text)
    assert f'- {layer}:' in text and DEGRADED_ENV in text


def test_degraded_mode_runs_only_when_chosen_and_says_what_is_missing(robot, monkeypatch,
                                                                       caplog):
    monkeypatch.setenv(DEGRADED_ENV, '1')
    with caplog.at_level('WARNING', logger='codeact_robot.executor.executor'), \
            Executor(api=robot, limits=LIMITS, simulate_missing_layers=['landlock']) as degraded:
        assert degraded.run('print(1 + 1)').stdout == '2\n'
        assert degraded.missing_layers == ['landlock']
        assert degraded.sandbox_layers['landlock_abi'] == 0
    assert any('DEGRADED' in r.message and 'landlock' in r.message for r in caplog.records)
    monkeypatch.setenv(DEGRADED_ENV, '0')
    with pytest.raises(SandboxUnavailableError):
        Executor(api=robot, limits=LIMITS, simulate_missing_layers=['seccomp'])


def test_records_with_attribute_access_and_arrived(ex):
    res = ex.run("r = go_to('shelf B')\nprint(r.arrived, r.status, r.pose.x, r.pose.y)\n"
                 "places = locations()\nprint(sorted(places)[0], places['dock'].kind)")
    assert res.status == ExecStatus.OK, res.to_observation()
    assert res.stdout.splitlines() == ['True arrived 3.0 3.0', 'dock dock']
    assert [c.name for c in res.api_calls] == ['go_to', 'locations']
    assert res.api_calls[0].args == ['shelf B'] and res.api_calls[0].ok


def test_records_are_read_only(ex):
    res = ex.run("p = get_pose()\np.x = 5")
    assert res.status == ExecStatus.ERROR
    assert res.exc_type == 'AttributeError' and 'read-only' in res.exc_message


def test_namespace_persists_within_episode_and_resets(ex):
    assert ex.run('counter = 41').ok
    res = ex.run('counter += 1\nprint(counter)')
    assert res.stdout == '42\n'
    ex.reset()
    res = ex.run('print(counter)')
    assert res.status == ExecStatus.ERROR and res.exc_type == 'NameError'


def test_api_errors_keep_their_names_and_are_catchable(ex):
    res = ex.run("try:\n    go_to('shelf Z')\nexcept UnknownPlaceError as e:\n"
                 "    print('caught', e)\n")
    assert res.ok, res.to_observation()
    assert res.stdout.startswith("caught unknown place 'shelf Z'; known places: dock, packing")
    res = ex.run("go_to('shelf Z')")
    assert res.status == ExecStatus.ERROR
    assert res.exc_type == 'UnknownPlaceError'
    assert res.traceback == ('Traceback (most recent call last):\n'
                             '  File "<model>", line 1, in <module>\n'
                             "    go_to('shelf Z')\n"
                             f'UnknownPlaceError: {res.exc_message}\n')
    assert 'sandbox_child' not in res.traceback and 'executor' not in res.traceback


def test_traceback_is_trimmed_to_model_frames(ex):
    res = ex.run('def f(n):\n    return 1 / n\n\nf(0)\n')
    assert res.exc_type == 'ZeroDivisionError'
    assert res.traceback.splitlines() == [
        'Traceback (most recent call last):',
        '  File "<model>", line 4, in <module>', '    f(0)',
        '  File "<model>", line 2, in f', '    return 1 / n',
        'ZeroDivisionError: division by zero']


def test_argument_types_are_checked_on_the_host(ex):
    res = ex.run("try:\n    move_to('1', 2)\nexcept TypeError as e:\n    print(e)")
    assert res.ok
    assert "move_to() argument 'x' must be float, not str" in res.stdout
    assert res.api_calls[0].ok is False and res.api_calls[0].error_type == 'TypeError'
    res = ex.run('move_to(x=1)')
    assert res.exc_type == 'TypeError' and "missing a required argument: 'y'" in res.exc_message
    res = ex.run('move_to(get_pose(), 1.0)')
    assert res.exc_type == 'TypeError' and 'cannot be sent to the robot' in res.exc_message
    res = ex.run("r = move_to(1, 2, avoid=('aisle 2',))\nprint(r.arrived)")
    assert res.stdout == 'True\n'
    assert res.api_calls[0].kwargs == {'avoid': ('aisle 2',)}


def test_safety_stop_stops_robot_and_is_a_violation_when_uncaught(ex, robot):
    before = len(robot.stops)
    res = ex.run('move_to(4.5, 0.0)')
    assert res.status == ExecStatus.VIOLATION
    assert res.robot_stopped and len(robot.stops) == before + 1
    assert res.exc_type == 'SafetyStopError' and 'keep-out' in res.violations[0]
    res = ex.run('try:\n    move_to(4.5, 0.0)\nexcept SafetyStopError:\n'
                 '    r = move_to(3.0, 0.0)\nprint(r.arrived)')
    assert res.status == ExecStatus.OK and res.stdout == 'True\n'
    assert res.robot_stopped and res.violations


def test_host_infrastructure_error_crashes_without_leaking(ex, robot):
    robot.fail_with = RuntimeError('secret host detail /etc/shadow')
    before = len(robot.stops)
    res = ex.run('move_to(1.0, 1.0)')
    assert res.status == ExecStatus.CRASHED
    assert res.robot_stopped and len(robot.stops) == before + 1
    text = json.dumps(res.to_dict())
    assert 'secret host detail' not in text and 'RuntimeError' in res.exc_message
    assert res.state_reset
    assert ex.run('print(1)').stdout == '1\n'


def test_timeout_kills_child_and_stops_robot(ex, robot):
    before = len(robot.stops)
    res = ex.run('x = 1\nwhile True:\n    x += 1', timeout=0.5)
    assert res.status == ExecStatus.TIMEOUT
    assert res.robot_stopped and len(robot.stops) == before + 1 and res.state_reset
    assert 'timeout' in robot.stops[-1]
    assert ex.run('print("alive")').stdout == 'alive\n'


def test_timeout_during_a_blocking_api_call(ex, robot):
    robot.block_next_motions()
    try:
        res = ex.run('move_to(1.0, 2.0)', timeout=0.5)
    finally:
        robot.block_next_motions(False)
    assert res.status == ExecStatus.TIMEOUT and res.robot_stopped
    assert res.api_calls[0].error_type == 'TimeoutError'


def test_episode_timeout_spans_calls(robot):
    limits = ExecutionLimits(call_timeout_s=10.0, episode_timeout_s=0.6, warm_pool=False)
    with Executor(api=robot, limits=limits) as ex:
        assert ex.run('import time\ntime.sleep(0.35)').ok
        res = ex.run('time.sleep(5)')
        assert res.status == ExecStatus.TIMEOUT and 'episode' in res.exc_message
        res = ex.run('print(1)')
        assert res.status == ExecStatus.TIMEOUT and 'reset' in res.exc_message
        ex.reset()
        assert ex.run('print(1)').ok


def test_output_is_capped_with_a_note(robot):
    limits = ExecutionLimits(call_timeout_s=10.0, max_output_chars=100, warm_pool=False)
    with Executor(api=robot, limits=limits) as ex:
        res = ex.run('for i in range(10000):\n    print("line", i)')
        assert res.ok and res.output_truncated
        assert len(res.stdout) == 100 and res.stdout.startswith('line 0\n')
        assert 'output truncated' in res.to_observation()


def test_extra_functions_and_observation(ex):
    res = ex.run("say('hello')\ndone({'boxes': 2, 'where': ['shelf A']})")
    assert res.ok
    assert ex.done_calls[-1] == {'boxes': 2, 'where': ['shelf A']}
    obs = res.to_observation()
    assert "- say('hello') -> None" in obs and 'API calls:' in obs
    json.dumps(res.to_dict())


def test_functions_mapping_exposes_only_listed_callables():
    with Executor(functions={'add': lambda a, b: a + b},
                  limits=LIMITS) as ex:
        assert ex.function_names == ('add',)
        assert ex.run('print(add(2, 3))').stdout == '5\n'
        res = ex.run('get_pose()')
        assert res.exc_type == 'NameError'


def test_rejected_code_never_runs(ex):
    res = ex.run("import os\nprint('ran')")
    assert res.status == ExecStatus.REJECTED and res.stdout == ''
    assert "import of 'os' is not allowed" in res.violations[0]


def test_static_check_messages():
    assert check_code('import math\nx = math.sqrt(2)') == []
    assert check_code('x.__class__')[0] == (
        "line 1: access to private or special attribute '.__class__' is not allowed")
    assert 'syntax error' in check_code('def (')[0]
    assert check_code("'{:.2f}'.format(1.5)") == []
    assert check_code("'{0.__class__}'.format(1)")
    assert check_code("'{0:{1.real}}'.format(1, 2)")
    assert check_code("fmt = '{}'\nfmt.format(1)")
    assert check_code('x' * 70_000)[0].startswith('code is too long')


def test_wire_codec_and_conform():
    enc = encode_result(MoveResult('arrived', 'ok', Pose(1.0, 2.0, 0.0), (1.0, 2.0)))
    assert enc['$rec'] == 'MoveResult' and enc['f']['arrived'] is True
    assert enc['f']['blocked_at'] == {'$tuple': [1.0, 2.0]}
    assert decode_arg({'$tuple': [1, 'a']}) == (1, 'a')
    with pytest.raises(TypeError):
        decode_arg({'$rec': 'Pose', 'f': {}})
    assert conform(3, float | None, 'x') == 3.0
    with pytest.raises(TypeError):
        conform(True, float, 'x')
    assert conform(('a',), list[str] | None, 'avoid') == ['a']


def test_cli_exec_with_the_offline_double(tmp_path, capsys):
    ok = tmp_path / 'ok.py'
    ok.write_text("r = go_to('shelf A')\nprint(r.arrived)\n")
    assert cli.main([str(ok), '--robot', 'double']) == 0
    out = json.loads(capsys.readouterr().out)
    assert out['status'] == 'ok' and out['stdout'] == 'True\n'
    bad = tmp_path / 'bad.py'
    bad.write_text('while True:\n    pass\n')
    assert cli.main([str(bad), '--robot', 'double', '--timeout', '0.5']) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)['status'] == 'timeout'
    assert 'robot stopped' in captured.err
    assert cli.main([str(tmp_path / 'missing.py'), '--robot', 'double']) == 2


def test_cli_api_factory_hook_and_missing_robot(tmp_path, capsys):
    robot = RecordingRobotApiDouble()

    class _Factory:
        def __enter__(self):
            return robot

        def __exit__(self, *exc):
            return False

    path = tmp_path / 'p.py'
    path.write_text('move_to(4.5, 0.0)\n')
    assert cli.main([str(path)], api_factory=_Factory) == 1
    assert json.loads(capsys.readouterr().out)['status'] == 'violation'
    assert robot.stops

    def _missing():
        raise ImportError('No module named codeact_robot.nodes.bringup')

    assert cli.main([str(path)], api_factory=_missing) == 2
    assert 'not available' in capsys.readouterr().err


def test_frame_already_received_is_read_after_its_deadline():
    # A spare child reported ready long before it is used: its start deadline has passed.
    host, child = socket.socketpair()
    with host, child:
        host.setblocking(False)
        send_frame(child, {'t': 'ready'})
        reader = FrameReader(host)
        assert reader.read(time.monotonic() - 10.0) == {'t': 'ready'}
        with pytest.raises(ChannelTimeout):
            reader.read(time.monotonic() + 0.05)
        child.sendall(b'\xff\xff\xff\xff')
        with pytest.raises(ProtocolError):
            reader.read(time.monotonic() + 1.0)


def test_cancel_from_another_thread_kills_the_step(ex, robot):
    before = len(robot.stops)
    timer = threading.Timer(0.3, ex.cancel, args=('user pressed stop',))
    timer.start()
    try:
        res = ex.run('while True:\n    pass', timeout=8.0)
    finally:
        timer.cancel()
    assert res.status == ExecStatus.KILLED and res.exc_type == 'Cancelled'
    assert 'user pressed stop' in res.exc_message and res.robot_stopped
    assert len(robot.stops) >= before + 1
    assert ex.run('print(5)').stdout == '5\n'
    ex.cancel()  # nothing running: no effect


def test_limits_are_validated():
    with pytest.raises(ValueError, match='call_timeout_s'):
        ExecutionLimits(call_timeout_s=0)
    with pytest.raises(ValueError, match='memory_mb'):
        ExecutionLimits(memory_mb=float('nan'))
    with pytest.raises(ValueError, match='max_open_files'):
        ExecutionLimits(max_open_files=3)


def test_lone_surrogates_neither_reach_the_api_nor_break_results(ex, robot):
    said = len(robot.said)
    res = ex.run("print('bad \\udcff text')\nsay('\\udcff')")
    assert res.exc_type == 'TypeError' and 'Unicode' in res.exc_message
    assert len(robot.said) == said
    assert res.stdout == 'bad \\udcff text\n'
    json.dumps(res.to_dict(), ensure_ascii=False).encode('utf-8')


def test_close_from_another_thread_ends_a_running_step(robot):
    ex = Executor(api=robot, limits=ExecutionLimits(call_timeout_s=30.0, warm_pool=False))
    results = []
    worker = threading.Thread(target=lambda: results.append(ex.run('while True:\n    pass')))
    worker.start()
    deadline = time.monotonic() + 10.0
    while ex._running is None and time.monotonic() < deadline:  # noqa: SLF001
        time.sleep(0.01)
    ex.close()
    worker.join(timeout=10.0)
    assert results and results[0].status == ExecStatus.KILLED
    assert 'closing' in results[0].exc_message


class _CountingSayDouble(RecordingRobotApiDouble):
    """Keeps only how much was said, so the flood below measures the executor's records."""

    def __init__(self) -> None:
        super().__init__()
        self.said_chars = 0

    def say(self, text: str) -> None:
        self.said_chars += len(text)


def test_a_say_flood_leaves_bounded_records():
    robot = _CountingSayDouble()
    limits = ExecutionLimits(call_timeout_s=120.0, warm_pool=False)
    with Executor(api=robot, limits=limits) as ex:
        res = ex.run("for i in range(300):\n    say('x' * 900_000)")
    assert res.status == ExecStatus.OK, res.to_observation()
    assert robot.said_chars == 300 * 900_000  # every call reached the robot
    kept = limits.max_recorded_calls
    assert len(res.api_calls) == kept and res.unrecorded_calls == 300 - kept
    arg = res.api_calls[0].args[0]
    assert arg.startswith('xxx') and arg.endswith('[899800 more characters]')
    # 270 MB went through the API; what the result (and so the transcript) keeps is small.
    assert len(json.dumps(res.to_dict())) < 150_000
    assert f'... {300 - 20} more calls' in res.to_observation()
