"""JSON tool-calling baseline: parsing, result rendering, and the same prompt facts as CodeAct."""

import json

from codeact_robot.agent.json_agent import (
    build_json_prompt,
    load_json_prompt,
    parse_tool_call,
    to_plain,
)
from codeact_robot.agent.prompt import EXAMPLES_NOTE, api_reference
from codeact_robot.api.types import MoveResult, Pose
from codeact_robot.world import load_world


def test_parse_first_call_counts_extra_calls():
    call = parse_tool_call('Going there.\n{"tool": "go_to", "args": {"name": "shelf B"}}\n'
                           '{"tool": "done", "args": {"summary": "x"}}')
    assert call and call.tool == 'go_to' and call.args == {'name': 'shelf B'}
    assert call.extra_calls == 1


def test_parse_accepts_name_arguments_form_and_fenced_json():
    call = parse_tool_call('<tool_call>\n{"name": "turn", "arguments": {"angle": 0.5}}\n'
                           '</tool_call>')
    assert call.tool == 'turn' and call.args == {'angle': 0.5}
    call = parse_tool_call('```json\n{"tool": "perceive", "args": {}}\n```')
    assert call.tool == 'perceive' and call.args == {}
    call = parse_tool_call('{"name": "move", "arguments": "{\\"distance\\": 1.0}"}')
    assert call.args == {'distance': 1.0}


def test_parse_reports_missing_or_broken_calls():
    assert not parse_tool_call('I will go to shelf B now.')
    assert 'No JSON' in parse_tool_call('I will go to shelf B now.').error
    broken = parse_tool_call('{"tool": "go_to", "args": {"name": }}')
    assert not broken and 'not valid JSON' in broken.error
    bad_args = parse_tool_call('{"tool": "go_to", "args": 5}')
    assert not bad_args and 'args' in bad_args.error


def test_results_render_as_json_with_properties():
    r = MoveResult('blocked', 'pallet', Pose(1.23456, 2.0, 0.0), blocked_aisle='aisle 2')
    plain = to_plain(r)
    assert plain['arrived'] is False and plain['blocked_aisle'] == 'aisle 2'
    assert plain['pose']['x'] == 1.235
    json.dumps(plain)  # JSON-able


def test_prompt_has_api_places_stock_limits_and_keep_out_in_json_form():
    prompt = build_json_prompt(load_world('warehouse'))
    for fact in [api_reference(), 'shelf B: 4.50, 3.95', 'red box -> shelf B',
                 'keep-out zone "battery storage"', 'aisle 3', 'max linear speed: 0.50',
                 EXAMPLES_NOTE]:
        assert fact in prompt, fact
    hint = load_json_prompt().bad_call.format(problem='No JSON tool call found.')
    assert '{"tool": "go_to", "args": {"name": "<place>"}}' in hint
    assert '```python' not in prompt


def test_call_cut_by_a_stop_sequence_is_repaired():
    from codeact_robot.agent.json_agent import JSON_STOP
    from codeact_robot.llm.base import truncate_at_stop

    for raw in ['{"tool": "go_to", "args": {"name": "shelf B"}}\n\nNow I will',
                '{"tool": "go_to", "args": {"name": "shelf B"}}\n{"tool": "done"}',
                '```json\n{\n  "tool": "go_to",\n  "args": {"name": "shelf B"}\n}\n```']:
        text, cut = truncate_at_stop(raw, JSON_STOP)
        assert cut, raw
        call = parse_tool_call(text)
        assert call.tool == 'go_to' and call.args == {'name': 'shelf B'}, (raw, call)
        assert call.repaired == '}'
    # The arguments of a cut call are not mistaken for a {"name": ...} call.
    assert parse_tool_call('{"tool": "go_to", "args": {"name": "shelf B"}').tool == 'go_to'
    assert not parse_tool_call('{"name": "shelf B"}')
