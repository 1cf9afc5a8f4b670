"""System prompt generation from the API docstrings, the world and the safety limits."""

from __future__ import annotations

import inspect

import pytest

from codeact_robot.agent.prompt import (
    EXAMPLES_NOTE,
    api_reference,
    build_system_prompt,
    compact_docstring,
    example_messages,
    load_prompt_file,
    world_facts,
)
from codeact_robot.api.errors import API_ERRORS
from codeact_robot.api.robot_api import RobotApi
from codeact_robot.api.types import Place
from codeact_robot.world import load_world

PLACES = [Place('shelf Z', 1.5, -2.25, 0.0, 'shelf', 'spare parts'),
          Place('dock 9', 0.0, 7.0, 3.14, 'dock')]


def test_every_llm_function_is_documented_from_its_docstring():
    ref = api_reference(RobotApi.LLM_FUNCTIONS)
    for name in RobotApi.LLM_FUNCTIONS:
        fn = getattr(RobotApi, name)
        first_line = inspect.getdoc(fn).splitlines()[0]
        assert f'\n{name}(' in '\n' + ref, name
        assert first_line in ref, name
    assert 'emergency_stop' not in ref and 'stock_list' not in ref  # trusted side only
    assert ('move_to(x: float, y: float, theta: float | None = None, speed: float | None = '
            'None, avoid: list[str] | None = None) -> MoveResult') in ref
    assert 'locations() -> dict[str, Place]' in ref


def test_the_default_prompt_shows_the_few_task_level_functions():
    ref = api_reference()
    shown = [line.split('(')[0] for line in ref.splitlines() if not line.startswith(' ')]
    assert shown == list(RobotApi.PROMPT_FUNCTIONS) and len(shown) <= 8
    assert 'go_to(name: str, avoid: list[str] | None = None) -> MoveResult' in ref
    assert 'fetch(box: str, to: str, near: str | None = None) -> str' in ref
    assert 'look(where: str | None = None) -> list[Detection]' in ref


def test_compact_docstring_joins_sections():
    doc = inspect.getdoc(RobotApi.move)
    text = compact_docstring(doc)
    assert text.splitlines() == [
        '  Drive straight by a distance without planning; stops before obstacles.',
        '  distance: Metres, negative to back up (at most 2 m per call).',
        '  speed: m/s, or None for the default.',
        '  Returns: MoveResult; status "arrived" when the full distance was driven.',
    ]


def test_prompt_holds_places_limits_rules_and_examples():
    prompt = build_system_prompt(PLACES, limits={'max_linear_speed': '0.5 m/s'},
                                 aisles=['aisle 7'], inventory={'red box': 'shelf Z'})
    assert '- shelf Z: 1.50, -2.25 spare parts' in prompt
    assert '- dock 9: 0.00, 7.00\n' in prompt
    assert 'aisle 7' in prompt and 'red box -> shelf Z' in prompt
    assert '- max linear speed: 0.5 m/s' in prompt
    assert 'ONE ```python block' in prompt and 'done(summary: str)' in prompt
    assert 'fail(reason: str)' in prompt and 'Unsafe request' in prompt
    for err in API_ERRORS:
        assert err.__name__ in prompt
    assert 'MoveResult(status, message, pose, blocked_at, blocked_aisle' in prompt
    assert 'Route(' not in prompt and 'Place(' not in prompt  # not returned by its functions
    assert EXAMPLES_NOTE in prompt  # the examples follow as chat turns
    assert '{' not in prompt.replace('{}', '') or 'dict[' in prompt  # no unfilled fields


def test_examples_are_chat_turns_from_another_warehouse():
    t = load_prompt_file()
    messages = example_messages(t.examples, t.task, t.observation)
    assert messages[0] == {'role': 'user', 'content': 'Task: ' + t.examples[0]['task']}
    roles = [m['role'] for m in messages]
    assert all(a != b for a, b in zip(roles, roles[1:], strict=False))  # they alternate
    assert sum(m['content'].startswith('Task: ') for m in messages) == len(t.examples) >= 4
    assert all('Robot: ' in m['content'] for m in messages
               if m['content'].startswith('Observation:'))
    text = '\n'.join(m['content'] for m in messages)
    world = load_world()
    for name in [*world.places, *(b.name for b in world.boxes), *(a.name for a in world.aisles),
                 *(z.name for z in world.keep_out)]:
        assert name not in text, f'an example names {name!r} of the real world'
    assert 'fail(' in text and 'fetch(' in text and 'look(' in text  # refusal, task skills


def test_examples_and_defaults_are_optional():
    prompt = build_system_prompt(PLACES, n_examples=0)
    assert EXAMPLES_NOTE not in prompt
    defaults = load_prompt_file().default_limits
    assert defaults[0].strip().splitlines()[0] in prompt
    assert build_system_prompt({p.name: p for p in PLACES}, n_examples=0) == prompt


def test_prompt_from_the_real_world_has_all_its_places():
    world = load_world()
    prompt = build_system_prompt(world.places, aisles=[a.name for a in world.aisles],
                                 inventory={b.name: b.location for b in world.boxes})
    for name, place in world.places.items():
        assert f'- {name}: {place.x:.2f}, {place.y:.2f}' in prompt
    assert 'red box -> shelf B' in prompt
    # Small models need a short prompt: under 2,000 tokens (~3.5 chars a token), examples
    # included.
    t = load_prompt_file()
    examples = sum(len(m['content']) for m in example_messages(t.examples, t.task,
                                                               t.observation))
    assert len(prompt) + examples < 7200, (len(prompt), examples)


def test_examples_only_call_api_functions():
    import ast
    allowed = set(RobotApi.LLM_FUNCTIONS) | {'done', 'fail', 'print', 'round', 'len'}
    for example in load_prompt_file().examples:
        for turn in example['turns']:
            code = turn['assistant'].split('```python\n', 1)[1].split('```', 1)[0]
            calls = {n.func.id for n in ast.walk(ast.parse(code))
                     if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
            assert calls <= allowed, calls - allowed


def test_missing_prompt_file_fails_clearly():
    with pytest.raises(FileNotFoundError):
        load_prompt_file('nope.yaml')


def test_prompts_quote_no_suite_command_or_answer():
    from codeact_robot.agent.json_agent import build_json_prompt, load_json_prompt
    from codeact_robot.eval.suite import load_suite

    world = load_world()
    facts = world_facts(world)
    texts = []
    for t, system in ((load_prompt_file(), build_system_prompt(
            facts.places, limits=facts.limits, aisles=facts.aisles, inventory=facts.inventory)),
            (load_json_prompt(), build_json_prompt(world))):
        messages = example_messages(t.examples, t.task, t.observation)
        texts.append(' '.join([system, *(m['content'] for m in messages)]).lower())

    def words(text: str) -> str:
        return ' '.join(''.join(c if c.isalnum() else ' ' for c in text.lower()).split())

    for task in load_suite('warehouse').tasks:
        quotes = [task.command] + [r for replies in task.replay.values() for r in replies
                                   if 'done(' in r or '"done"' in r]
        for quote in quotes:
            key = words(quote.split('done', 1)[-1] if 'done' in quote else quote)
            for text in texts:
                assert key not in words(text), (task.id, key)
