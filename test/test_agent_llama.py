"""One real, short episode: the embedded 1.5B model, the real executor and the robot double."""

from __future__ import annotations

import pytest
from robot_doubles import WarehouseRobotDouble

from codeact_robot.agent import AgentConfig, AgentEvent, CodeActAgent, read_transcript
from codeact_robot.llm.llama_cpp_backend import (
    LlamaCppBackend,
    default_model_path,
    llama_cpp_importable,
)
from codeact_robot.world import load_world

pytestmark = [pytest.mark.model, pytest.mark.slow, pytest.mark.timeout(900)]


def test_embedded_model_episode(tmp_path):
    if not llama_cpp_importable():
        pytest.skip('llama-cpp-python is not installed (make setup builds it)')
    if not default_model_path().is_file():
        pytest.skip(f'model {default_model_path()} missing (make setup fetches it)')
    world = load_world()
    robot = WarehouseRobotDouble(world)
    events: list[AgentEvent] = []
    backend = LlamaCppBackend(n_threads=2)
    # The product's own prompt (functions, places, worked examples): a stripped-down prompt
    # without examples made the model answer with done()/fail() at once, which is not what
    # users get. Few tokens per reply and two turns at most keep it short on 2 shared cores.
    config = AgentConfig(max_turns=2, max_new_tokens=100, generation_timeout=600,
                         max_episode_seconds=840, turn_timeout=30)
    try:
        with CodeActAgent(llm=backend, robot=robot, world=world, config=config,
                          runs_dir=tmp_path, on_event=events.append) as agent:
            result = agent.run('go to the charging dock')
    finally:
        backend.close()
    records = read_transcript(result.transcript_path)
    turns = [r for r in records if r['event'] == 'turn']
    print(f'{result}\n' + '\n'.join(f'turn {t["turn"]}: {t["llm"]}\n{t["completion"]}'
                                    for t in turns))
    assert result.error is None, result.failure_reason
    assert turns and turns[0]['code'], 'the model wrote code in its first reply'
    assert turns[0]['execution'] is not None, 'the code went through the executor'
    assert turns[0]['llm']['prompt_tokens'] > 300 and turns[0]['llm']['completion_tokens']
    assert [e.phase for e in events][:3] == ['generating', 'executing', 'observed']
    # The 1.5B model knows this one: drive to the named place.
    assert robot.called('go_to'), robot.calls
    if len(turns) == 2:
        # Turn 2 reuses the KV cache: the system prompt is not processed again.
        assert turns[1]['llm']['cached_tokens'] >= turns[0]['llm']['prompt_tokens']
