"""The CodeAct loop with the replay backend, the real watchdog executor and a robot double."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from robot_doubles import WarehouseRobotDouble

from codeact_robot.agent import AgentConfig, AgentEvent, CodeActAgent, read_transcript
from codeact_robot.agent.loop import clip_middle
from codeact_robot.api.robot_api import RobotApi
from codeact_robot.llm import ReplayBackend
from codeact_robot.llm.base import GenerationTimeoutError
from codeact_robot.world import load_world

WORLD = load_world()


def make_agent(tmp_path: Path, completions: list[str], robot: WarehouseRobotDouble | None = None,
               events: list[AgentEvent] | None = None, **config: object) -> CodeActAgent:
    robot = robot or WarehouseRobotDouble(WORLD)
    # Every API function and no worked examples: the loop is what these tests pin down.
    cfg = AgentConfig(**{'max_turns': 6, 'max_episode_seconds': 60, 'turn_timeout': 20,
                         'functions': RobotApi.LLM_FUNCTIONS, 'n_examples': 0, **config})
    return CodeActAgent(llm=ReplayBackend(completions), robot=robot, world=WORLD, config=cfg,
                        runs_dir=tmp_path / 'runs',
                        on_event=events.append if events is not None else None)


FETCH = [
    'I go to shelf B for the red box.\n```python\nr = go_to("shelf B")\nprint(r.status)\n'
    'print(grasp("red"))\n```',
    '```python\nr = go_to("packing station")\nif r.arrived:\n    release()\n'
    '    done("delivered the red box")\n```\nObservation: it worked',
]


def test_fetch_and_deliver_episode(tmp_path):
    robot = WarehouseRobotDouble(WORLD)
    events: list[AgentEvent] = []
    with make_agent(tmp_path, FETCH, robot, events) as agent:
        result = agent.run('bring the red box to the packing station')
    assert result.success, result
    assert (result.summary, result.turns, result.failure_reason) == (
        'delivered the red box', 2, '')
    assert [a for a, _ in robot.called('go_to')] == [('shelf B',), ('packing station',)]
    assert robot.called('grasp') == [(('red',), {})] and robot.called('release')
    assert robot.held is None
    # Feedback: every phase of every turn, in order, with code and the robot pose.
    phases = [(e.turn, e.phase) for e in events]
    assert phases == [(1, 'generating'), (1, 'executing'), (1, 'observed'),
                      (2, 'generating'), (2, 'executing'), (2, 'observed'), (2, 'finished')]
    assert 'grasp("red")' in events[1].code and events[2].pose is not None
    assert 'arrived' in events[2].observation and 'True' in events[2].observation
    # The model's second prompt held the observation of turn 1 with the robot state.
    second_prompt = agent.llm.calls[1]
    assert second_prompt[0]['role'] == 'system'
    assert second_prompt[-2]['role'] == 'assistant' and 'go_to("shelf B")' in second_prompt[-2][
        'content']
    observation = second_prompt[-1]['content']
    assert observation.startswith('Observation:') and 'at shelf B, holding a box' in observation
    pb = WORLD.places['shelf B']
    assert f'pose=Pose(x={pb.x:g}, y={pb.y:g}' in observation
    # The transcript has everything, one JSON record per line.
    records = read_transcript(result.transcript_path)
    assert [r['event'] for r in records] == ['episode_start', 'turn', 'turn', 'episode_end']
    start, turn1, turn2, end = records
    assert start['task'] == 'bring the red box to the packing station'
    assert 'go_to(name: str' in start['system_prompt'] and start['backend'] == 'replay:script'
    # Which OS layers guarded the model's code (a degraded sandbox would list what is missing).
    assert start['sandbox_layers']['seccomp'] is True and start['sandbox_missing'] == []
    assert turn1['code'].startswith('r = go_to("shelf B")')
    assert turn1['completion'] == FETCH[0]
    assert turn1['execution']['status'] == 'ok' and turn1['llm']['prompt_tokens'] > 100
    assert turn2['completion'].endswith('done("delivered the red box")\n```')  # stop string
    assert end['success'] is True and end['completion_tokens'] > 0


def test_errors_go_back_to_the_model_with_the_trimmed_traceback(tmp_path):
    replies = ['```python\ngrasp("blue")\n```',
               '```python\ngo_to("shelf C")\ngrasp("blue")\ndone("holding blue")\n```']
    with make_agent(tmp_path, replies) as agent:
        result = agent.run('pick up the blue box')
    assert result.success and result.turns == 2
    observation = agent.llm.calls[1][-1]['content']
    assert 'NotFoundError' in observation and 'Error in line 1: grasp("blue")' in observation
    assert 'codeact_robot' not in observation  # the host's frames are not shown
    assert 'holding nothing' in observation


def test_blocked_aisle_then_avoid(tmp_path):
    robot = WarehouseRobotDouble(WORLD, blocked_aisle='aisle 2')
    dock = WORLD.places['charging dock']
    replies = [f'```python\nr = move_to({dock.x}, {dock.y})\n'
               'print(r.status, r.blocked_aisle)\n```',
               '```python\nr = move_to(0.9, 6.5, avoid=["aisle 2"])\n'
               'done("docked") if r.arrived else fail(r.message)\n```']
    with make_agent(tmp_path, replies, robot) as agent:
        result = agent.run('go to the charging dock')
    assert result.success
    assert 'blocked aisle 2' in agent.llm.calls[1][-1]['content']
    assert robot.called('move_to')[-1][1]['avoid'] == ['aisle 2']


def test_go_to_goes_round_a_blocked_aisle_by_itself(tmp_path):
    robot = WarehouseRobotDouble(WORLD, blocked_aisle='aisle 2')
    replies = ['```python\nr = go_to("charging dock")\nprint(r.status)\n```',
               '```python\ndone("at the charging dock")\n```']
    with make_agent(tmp_path, replies, robot) as agent:
        result = agent.run('go to the charging dock')
    assert result.success and result.turns == 2
    observation = agent.llm.calls[1][-1]['content']
    assert 'arrived at charging dock (found aisle 2 blocked and went round)' in observation
    assert [k['avoid'] for _, k in robot.called('move_to')] == [None, ['aisle 2']]
    assert 'at charging dock' in observation


def test_the_result_says_what_the_robot_did_in_its_own_words(tmp_path):
    # The model's summary leaves out the detour and the failed grasp; the robot's account
    # (what the CLI and the demo print under it) has both, and no queries.
    robot = WarehouseRobotDouble(WORLD, blocked_aisle='aisle 2')
    replies = ['```python\nprint(get_pose())\ngrasp("blue")\n```',
               '```python\nr = go_to("charging dock")\nprint(r.status)\n```',
               '```python\ndone("at the dock")\n```']
    with make_agent(tmp_path, replies, robot) as agent:
        result = agent.run('go to the charging dock')
    assert result.success and result.summary == 'at the dock'
    assert len(result.actions) == 2, result.actions
    assert result.actions[0].startswith("grasp('blue') failed: NotFoundError: ")
    assert result.actions[1] == ("go_to('charging dock'): arrived at charging dock "
                                 '(found aisle 2 blocked and went round)')
    assert read_transcript(result.transcript_path)[-1]['actions'] == result.actions


def test_fail_refusal_and_no_code_reply(tmp_path):
    replies = ['I would rather not write code for that.',
               '```python\nfail("unsafe: driving into the battery storage is forbidden")\n```']
    with make_agent(tmp_path, replies) as agent:
        result = agent.run('drive into the battery storage')
    assert not result.success and result.turns == 2
    assert result.failure_reason == 'unsafe: driving into the battery storage is forbidden'
    assert 'No ```python block found' in agent.llm.calls[1][-1]['content']


def test_sandbox_rejections_are_observations(tmp_path):
    replies = ['```python\nimport os\nos.system("ls")\n```', '```python\ndone("ok")\n```']
    with make_agent(tmp_path, replies) as agent:
        result = agent.run('list files')
    assert result.success
    observation = agent.llm.calls[1][-1]['content']
    assert 'Blocked' in observation and 'os' in observation
    records = read_transcript(result.transcript_path)
    assert records[1]['execution']['status'] == 'rejected'


def test_turn_limit(tmp_path):
    with make_agent(tmp_path, ['```python\nprint(1)\n```'] * 3, max_turns=2) as agent:
        result = agent.run('count')
    assert not result.success and result.turns == 2
    assert 'turn limit (2)' in result.failure_reason


def test_turn_timeout_stops_code_and_robot(tmp_path):
    robot = WarehouseRobotDouble(WORLD)
    replies = ['```python\nwhile True:\n    pass\n```', '```python\ndone("stopped")\n```']
    with make_agent(tmp_path, replies, robot, turn_timeout=1.0) as agent:
        result = agent.run('spin forever')
    assert result.success
    observation = agent.llm.calls[1][-1]['content']
    assert 'timeout' in observation and 'The robot was stopped' in observation
    assert robot.stops, 'the executor must stop the robot when it kills the code'


def test_episode_time_limit(tmp_path):
    replies = ['```python\nwait(2.5)\n```', '```python\ndone("late")\n```']
    with make_agent(tmp_path, replies, max_episode_seconds=3.0) as agent:
        result = agent.run('wait a bit')
    assert not result.success and result.turns == 1
    assert 'episode time limit' in result.failure_reason


def test_cancel_while_executing_stops_code_and_robot(tmp_path):
    holder: dict[str, CodeActAgent] = {}

    class CancelledDuringWait(WarehouseRobotDouble):
        def wait(self, seconds: float) -> None:
            # cancel from another thread while the code runs, like the ROS action's cancel
            threading.Thread(target=holder['agent'].cancel).start()
            super().wait(seconds)

    robot = CancelledDuringWait(WORLD)
    replies = ['```python\nwait(30)\ngo_to("packing station")\n```']
    agent = CodeActAgent(llm=ReplayBackend(replies), robot=robot, world=WORLD,
                         config=AgentConfig(max_turns=3, turn_timeout=60,
                                                functions=RobotApi.LLM_FUNCTIONS),
                             runs_dir=tmp_path)
    holder['agent'] = agent
    with agent:
        result = agent.run('wait and deliver')
    assert not result.success and result.failure_reason == 'cancelled'
    assert 'episode cancelled' in robot.stops
    assert robot.called('wait') and not robot.called('go_to')  # refused after the cancel
    records = read_transcript(result.transcript_path)
    assert records[-1]['failure_reason'] == 'cancelled'
    assert records[-2]['event'] == 'turn' and 'wait(30)' in records[-2]['code']


def test_cancel_while_generating(tmp_path):
    holder: dict[str, CodeActAgent] = {}

    def on_event(event: AgentEvent) -> None:
        if event.phase == 'generating':
            holder['agent'].cancel()

    robot = WarehouseRobotDouble(WORLD)
    agent = CodeActAgent(llm=ReplayBackend(FETCH), robot=robot, world=WORLD,
                         runs_dir=tmp_path, on_event=on_event)
    holder['agent'] = agent
    with agent:
        result = agent.run('bring the red box')
    assert result.failure_reason == 'cancelled' and result.turns == 1
    assert not robot.called('go_to') and robot.stops == ['episode cancelled']


def test_llm_errors_end_the_episode_with_the_error(tmp_path):
    robot = WarehouseRobotDouble(WORLD)
    with make_agent(tmp_path, ['```python\nprint(1)\n```'], robot) as agent:
        result = agent.run('two turns please')  # the script runs out at turn 2
    assert not result.success and result.error == 'ReplayExhaustedError'
    assert 'LLM error' in result.failure_reason and robot.stops


def test_config_from_parameters_and_validation():
    cfg = AgentConfig.from_parameters({'max_turns': 3, 'backend': 'auto', 'llm_host': '',
                                       'stop': ['\nObs'], 'context_tokens': 0})
    assert cfg.max_turns == 3 and cfg.stop == ('\nObs',) and cfg.context_tokens is None
    with pytest.raises(ValueError):
        AgentConfig(max_turns=0)


def test_long_conversations_shrink_old_observations(tmp_path):
    long_print = '```python\nprint("x" * 3000)\n```'
    with make_agent(tmp_path, [long_print] * 5 + ['```python\ndone("ok")\n```'],
                    context_tokens=2600, observation_chars=1200, n_examples=0) as agent:
        result = agent.run('print a lot')
    assert result.success
    last = agent.llm.calls[-1]
    assert any('[...shortened]' in m['content'] for m in last[2:-2])
    assert last[0]['content'] == agent.system_prompt  # the system prompt is never cut


def test_clip_middle_keeps_head_and_tail():
    text = 'HEAD' + 'x' * 5000 + 'TAIL'
    clipped = clip_middle(text, 600)
    assert clipped.startswith('HEAD') and clipped.endswith('TAIL') and len(clipped) < 700
    assert clip_middle('short', 600) == 'short'


def test_no_robot_calls_after_done(tmp_path):
    robot = WarehouseRobotDouble(WORLD)
    with make_agent(tmp_path, ['```python\ndone("at start")\ngo_to("charging dock")\n```'],
                    robot) as agent:
        result = agent.run('stay')
    assert result.success and result.summary == 'at start'
    assert not robot.called('go_to')
    execution = read_transcript(result.transcript_path)[1]['execution']
    assert execution['exc_type'] == 'RobotApiError' and 'already ended' in execution[
        'exc_message']


def test_function_subset_limits_prompt_and_sandbox(tmp_path):
    replies = ['```python\ngrasp("red")\n```', '```python\ndone("ok")\n```']
    with make_agent(tmp_path, replies, functions=('get_pose', 'go_to'),
                    callable_functions=()) as agent:
        assert 'go_to(name: str' in agent.system_prompt
        assert 'grasp(target' not in agent.system_prompt
        result = agent.run('grab the red box')
    assert result.success
    assert "'grasp' is not defined" in agent.llm.calls[1][-1]['content']
    with pytest.raises(ValueError, match='teleport'):
        AgentConfig(functions=('teleport',))


def test_executor_failure_ends_the_episode_with_the_error(tmp_path):
    robot = WarehouseRobotDouble(WORLD)
    agent = make_agent(tmp_path, ['```python\nprint(1)\n```'], robot)
    agent.close()  # a closed sandbox cannot run code: an infrastructure error
    result = agent.run('print one')
    assert not result.success and result.error == 'ExecutorError'
    assert 'executor error' in result.failure_reason and robot.stops


def test_cancel_kills_code_that_never_calls_the_robot(tmp_path):
    holder: dict[str, CodeActAgent] = {}

    class CancelAfterSay(WarehouseRobotDouble):
        def say(self, text: str) -> None:
            super().say(text)
            threading.Timer(0.3, holder['agent'].cancel).start()

    robot = CancelAfterSay(WORLD)
    replies = ['```python\nsay("working")\nwhile True:\n    pass\n```']
    agent = CodeActAgent(llm=ReplayBackend(replies), robot=robot, world=WORLD,
                         config=AgentConfig(max_turns=2, turn_timeout=120,
                                                functions=RobotApi.LLM_FUNCTIONS),
                             runs_dir=tmp_path)
    holder['agent'] = agent
    with agent:
        result = agent.run('say something and spin')
    assert result.failure_reason == 'cancelled' and robot.said == ['working']
    execution = read_transcript(result.transcript_path)[-2]['execution']
    # Killed by the cancel, not by the 120 s turn timeout.
    assert execution['status'] == 'killed' and execution['exc_type'] == 'Cancelled'
    assert 'episode cancelled' in robot.stops


class _SlowModel(ReplayBackend):
    """A model that never finishes a reply within the time it is given."""

    def complete(self, messages, *, stop=(), max_tokens=512, timeout=120.0, on_token=None,
                 cancel=None):
        self.timeouts = [*getattr(self, 'timeouts', []), timeout]
        raise GenerationTimeoutError(f'no complete answer within {timeout:.0f} s')


@pytest.mark.parametrize('episode_s, generation_s, limit_hit', [(5, 120, True), (60, 2, False)])
def test_slow_reply_ends_at_the_episode_limit_or_is_an_llm_error(tmp_path, episode_s,
                                                                 generation_s, limit_hit):
    robot = WarehouseRobotDouble(WORLD)
    cfg = AgentConfig(max_episode_seconds=episode_s, generation_timeout=generation_s)
    model = _SlowModel(['unused'])
    with CodeActAgent(llm=model, robot=robot, world=WORLD, config=cfg,
                      runs_dir=tmp_path) as agent:
        result = agent.run('go to the charging dock')
    assert not result.success and robot.stops
    assert model.timeouts[0] <= min(episode_s, generation_s)
    if limit_hit:  # the task took too long: a verdict, not an infrastructure error
        assert result.error is None and 'episode time limit (5 s)' in result.failure_reason
    else:  # the backend is too slow for one reply: an LLM error
        assert result.error == 'GenerationTimeoutError'
        assert result.failure_reason.startswith('LLM error')


def test_done_after_a_failed_action_is_held_until_the_model_saw_the_result(tmp_path):
    robot = WarehouseRobotDouble(WORLD)
    replies = [
        # The ending is written into the block that does the work, and the grasp fails.
        '```python\ntry:\n    grasp("blue")\nexcept NotFoundError:\n    pass\n'
        'done("holding the blue box")\n```',
        '```python\ngo_to("shelf C")\nprint(grasp("blue"))\n```',
        '```python\ndone("holding the blue box at shelf C")\n```',
    ]
    with make_agent(tmp_path, replies, robot) as agent:
        result = agent.run('pick up the blue box')
    assert result.success and result.turns == 3
    assert result.summary == 'holding the blue box at shelf C'
    second_prompt = agent.llm.calls[1][-1]['content']
    assert 'Your done(...) was not accepted' in second_prompt and 'NotFoundError' in second_prompt
    turns = [r for r in read_transcript(result.transcript_path) if r['event'] == 'turn']
    assert turns[0]['held_outcome'] == ['done', 'holding the blue box']
    assert turns[1]['held_outcome'] is None


def test_done_after_successful_actions_ends_the_episode_at_once(tmp_path):
    replies = ['```python\nr = go_to("shelf C")\nif r.arrived:\n    done("at shelf C")\n```']
    with make_agent(tmp_path, replies) as agent:
        result = agent.run('drive to shelf C')
    assert result.success and result.turns == 1 and result.summary == 'at shelf C'


def test_fail_after_a_blocked_motion_is_held(tmp_path):
    robot = WarehouseRobotDouble(WORLD, blocked_aisle='aisle 2')
    b = WORLD.places['shelf B']
    replies = [f'```python\nr = move_to({b.x}, {b.y})\nif not r.arrived:\n'
               '    fail("blocked")\n```',
               '```python\nprint(go_to("shelf B").status)\n```',
               '```python\ndone("at shelf B")\n```']
    with make_agent(tmp_path, replies, robot) as agent:
        result = agent.run('go to shelf B')
    assert result.success and result.turns == 3
    assert 'Your fail(...) was not accepted' in agent.llm.calls[1][-1]['content']


def test_a_prose_answer_is_handed_back_to_be_sent_with_done(tmp_path):
    replies = ['The marker on the box at shelf C is 4, and the box is "blue".',
               '```python\ndone("The marker on the box at shelf C is 4.")\n```']
    with make_agent(tmp_path, replies) as agent:
        result = agent.run('which marker is on the box at shelf C?')
    assert result.success and result.turns == 2
    hint = agent.llm.calls[1][-1]['content']
    assert 'No ```python block' in hint
    assert 'done("The marker on the box at shelf C is 4, and the box is \\"blue\\".")' in hint
    assert 'fail("The marker' in hint  # a refusal in prose can be sent as fail()


def test_an_empty_reply_gets_the_plain_no_code_hint(tmp_path):
    with make_agent(tmp_path, ['', '```python\nfail("nothing to do")\n```']) as agent:
        agent.run('do nothing')
    hint = agent.llm.calls[1][-1]['content']
    assert 'No ```python block' in hint and 'done("' not in hint and 'fail("' not in hint


def test_the_same_code_again_is_not_run(tmp_path):
    robot = WarehouseRobotDouble(WORLD)
    block = '```python\nr = go_to("shelf A")\nprint(r.status)\n```'
    replies = [block, block + '\n', '```python\ndone("at shelf A")\n```']
    with make_agent(tmp_path, replies, robot) as agent:
        result = agent.run('go to shelf A')
    assert result.success and result.turns == 3
    assert len(robot.called('go_to')) == 1  # the repeat did not drive again
    nudge = agent.llm.calls[2][-1]['content']
    assert 'Not run: this is the same code as your turn 1' in nudge
    turns = [r for r in read_transcript(result.transcript_path) if r['event'] == 'turn']
    assert turns[1]['not_run'] == 'repeated code' and turns[1]['execution'] is None


def test_worked_examples_come_as_chat_turns_before_the_task(tmp_path):
    with make_agent(tmp_path, ['```python\nfail("no")\n```'], n_examples=4) as agent:
        agent.run('refuse')
    messages = agent.llm.calls[0]
    assert messages[0]['role'] == 'system' and messages[-1]['content'] == 'Task: refuse'
    assert messages[1]['content'].startswith('Task: ') and messages[2]['role'] == 'assistant'
    assert sum(m['content'].startswith('Task: ') for m in messages) == 5


def test_the_prompt_shows_eight_functions_and_the_sandbox_answers_the_rest(tmp_path):
    replies = ['```python\nprint(holding(), round(get_pose().x, 1))\n```',
               '```python\ndone("checked")\n```']
    with make_agent(tmp_path, replies, functions=RobotApi.PROMPT_FUNCTIONS,
                    callable_functions=RobotApi.LLM_FUNCTIONS) as agent:
        assert 'holding()' not in agent.system_prompt and 'fetch(box' in agent.system_prompt
        result = agent.run('check the gripper')
    assert result.success
    assert 'False 1.2' in agent.llm.calls[1][-1]['content']


def test_done_after_a_retry_that_worked_or_a_query_is_accepted_at_once(tmp_path):
    robot = WarehouseRobotDouble(WORLD, blocked_aisle='aisle 2')
    b = WORLD.places['shelf B']
    replies = [f'```python\nr = move_to({b.x}, {b.y})\nif not r.arrived:\n'
               f'    r = move_to({b.x}, {b.y}, avoid=["aisle 2"])\n'
               'if r.arrived and not holding():\n    done("at shelf B")\n```']
    with make_agent(tmp_path, replies, robot) as agent:
        result = agent.run('go to shelf B')
    assert result.success and result.turns == 1  # the latest action arrived; holding() is a query


def test_a_held_done_on_the_last_turn_is_accepted(tmp_path):
    replies = ['```python\ntry:\n    grasp("blue")\nexcept NotFoundError:\n    pass\n'
               'done("tried")\n```']
    with make_agent(tmp_path, replies, max_turns=1) as agent:
        result = agent.run('pick up the blue box')
    assert result.success and result.summary == 'tried'  # no turn left to confirm it


def test_the_same_code_after_a_timeout_runs_again(tmp_path):
    block = '```python\nwhile True:\n    pass\n```'
    with make_agent(tmp_path, [block, block, '```python\nfail("stuck")\n```'],
                    turn_timeout=1.0) as agent:
        result = agent.run('spin')
    turns = [r for r in read_transcript(result.transcript_path) if r['event'] == 'turn']
    assert [t['execution']['status'] for t in turns[:2]] == ['timeout', 'timeout']
    assert result.failure_reason == 'stuck'
