"""Agent benchmark (LLM parts): first-turn vs later-turn latency (KV reuse), tokens/s, loop cost.

Run from the repository root: ``.venv/bin/python -m bench.bench_agent``. Writes
bench/results/agent.json and bench/results/agent.md. Sections:

- ``llama_cpp``: the embedded Qwen2.5-Coder-1.5B with the real system prompt. Turn 1 processes
  the whole prompt; turns 2-3 reuse the KV cache; then turn 3's prompt again with the cache
  cleared, i.e. what every turn would cost without reuse.
- ``ollama``: the same turns against a running Ollama server, or why it was skipped.
- ``loop_overhead``: one agent turn with the replay backend, the real executor and a robot
  double (prompt handling, extraction, sandboxed execution, transcript), per turn.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from codeact_robot.agent import STOP_SEQUENCES, AgentConfig, CodeActAgent
from codeact_robot.agent.prompt import (
    build_system_prompt,
    example_messages,
    limit_lines,
    load_prompt_file,
)
from codeact_robot.llm import LlmBackend, LlmError, ReplayBackend
from codeact_robot.world import load_world

RESULTS = Path(__file__).resolve().parent / 'results'
TASK = 'Task: bring the red box to the packing station'
OBSERVATIONS = [
    'Observation:\nOutput:\narrived True\nRobot: at shelf B, holding a box',
    'Observation:\nOutput:\nblocked aisle 2\nRobot: at x=6.0, y=4.0 in aisle 2, holding a box',
]
MAX_TOKENS = 64


SHORT = {'functions': ('get_pose', 'go_to', 'say'),
         'places': ('start', 'charging dock', 'packing station')}
OPTIONS = {'short': False, 'cold': True}


def system_prompt() -> str:
    """The agent's real system prompt for the warehouse world (or its --short variant)."""
    world = load_world()
    if OPTIONS['short']:
        return build_system_prompt({n: world.places[n] for n in SHORT['places']},
                                   limits=limit_lines(None),
                                   aisles=[a.name for a in world.aisles], n_examples=0,
                                   functions=SHORT['functions'])
    return build_system_prompt(world.places, limits=limit_lines(None),
                               aisles=[a.name for a in world.aisles],
                               inventory={b.name: b.location for b in world.boxes})


def turns(backend: LlmBackend) -> list[dict[str, Any]]:
    """Run three turns of one conversation; return each turn's numbers."""
    t = load_prompt_file()
    examples = [] if OPTIONS['short'] else example_messages(t.examples, t.task, t.observation)
    messages = [{'role': 'system', 'content': system_prompt()}, *examples,
                {'role': 'user', 'content': TASK}]
    rows = []
    for i in range(3):
        c = backend.complete(messages, stop=STOP_SEQUENCES, max_tokens=MAX_TOKENS, timeout=3600)
        rows.append({'turn': i + 1, **_numbers(c)})
        messages.append({'role': 'assistant', 'content': c.text})
        if i < len(OBSERVATIONS):
            messages.append({'role': 'user', 'content': OBSERVATIONS[i]})
    rows[-1]['messages'] = messages  # reused for the cold comparison
    return rows


def _numbers(c: Any) -> dict[str, Any]:
    return {'prompt_tokens': c.prompt_tokens, 'cached_tokens': c.cached_tokens,
            'prompt_eval_tokens': c.extra.get('prompt_eval_tokens'),
            'first_token_s': round(c.first_token_seconds or 0.0, 3),
            'total_s': round(c.seconds, 3), 'completion_tokens': c.completion_tokens,
            'tokens_per_s': round(c.tokens_per_second, 2) if c.tokens_per_second else None,
            'prompt_tokens_per_s': round(c.extra['prompt_eval_tokens'] / c.first_token_seconds,
                                         1) if c.first_token_seconds and
            c.extra.get('prompt_eval_tokens') else None}


def bench_llama_cpp() -> dict[str, Any]:
    """Embedded model: warm turns with KV reuse, then the last turn with a cold cache."""
    from codeact_robot.llm.llama_cpp_backend import (
        LlamaCppBackend,
        default_model_path,
        llama_cpp_importable,
    )
    if not llama_cpp_importable() or not default_model_path().is_file():
        return {'skipped': 'llama-cpp-python or the model file is missing (make setup)'}
    start = time.monotonic()
    # Saved prompt states off: these numbers are prompt processing within one process.
    backend = LlamaCppBackend(context_size=4096, n_threads=2, prompt_cache='off')
    load_s = time.monotonic() - start
    try:
        backend.clear_cache()
        rows = turns(backend)
        messages = rows[-1].pop('messages')
        out = {'model': backend.model, 'n_threads': 2, 'context_size': 4096,
               'prompt': 'short' if OPTIONS['short'] else 'full',
               'load_s': round(load_s, 2), 'turns': rows}
        if OPTIONS['cold']:
            backend.clear_cache()
            cold = backend.complete(messages[:-1], stop=STOP_SEQUENCES, max_tokens=MAX_TOKENS,
                                    timeout=3600)
            out['turn3_without_kv_reuse'] = _numbers(cold)
    finally:
        backend.close()
    if OPTIONS['cold']:
        out['first_turn_of_a_new_process'] = first_turn_with_saved_state(messages[:2])
    return out


def first_turn_with_saved_state(messages: list[dict[str, str]]) -> dict[str, Any]:
    """Turn 1 in a process that saves the system prompt's state, then in one that loads it."""
    from codeact_robot.llm.llama_cpp_backend import LlamaCppBackend

    out: dict[str, Any] = {}
    with TemporaryDirectory() as folder:
        for label in ('saves_state', 'loads_state'):
            backend = LlamaCppBackend(context_size=4096, n_threads=2, prompt_cache=folder)
            try:
                c = backend.complete(messages, stop=STOP_SEQUENCES, max_tokens=MAX_TOKENS,
                                     timeout=3600)
            finally:
                backend.close()
            out[label] = {**_numbers(c), 'prompt_state': c.extra.get('prompt_state')}
        out['state_file_mb'] = round(sum(p.stat().st_size for p in Path(folder).iterdir())
                                     / 1e6, 1)
    return out


def bench_ollama() -> dict[str, Any]:
    """Ollama server, when one answers."""
    from codeact_robot.llm.ollama_backend import OllamaBackend, ollama_available, ollama_host
    if not ollama_available():
        return {'skipped': f'no Ollama server answers at {ollama_host()}'}
    backend = OllamaBackend()
    try:
        rows = turns(backend)
    except LlmError as e:
        return {'skipped': f'{type(e).__name__}: {e}'}
    finally:
        backend.close()
    rows[-1].pop('messages')
    return {'model': backend.model, 'turns': rows}


def bench_loop_overhead(n: int = 20) -> dict[str, Any]:
    """Agent turns without a model: replay backend, real executor, a robot double."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'test'))
    from test_agent_robot_double import WarehouseRobotDouble  # the test suite's robot double

    world = load_world()
    # Different code every turn (the loop does not run a block sent twice in a row).
    replies = [f'```python\nr = go_to("shelf B")\nprint(r.status, {i})\n```'
               for i in range(n - 1)] + ['```python\ndone("ok")\n```']
    with TemporaryDirectory() as runs:
        agent = CodeActAgent(llm=ReplayBackend(replies), robot=WarehouseRobotDouble(world),
                             world=world, config=AgentConfig(max_turns=n), runs_dir=runs)
        with agent:
            start = time.monotonic()
            result = agent.run('go to shelf B repeatedly')
            total = time.monotonic() - start
        per_turn = []
        with open(result.transcript_path, encoding='utf-8') as f:
            for line in f:
                rec = json.loads(line)
                if rec['event'] == 'turn':
                    per_turn.append(rec['execution_seconds'])
    return {'turns': result.turns, 'success': result.success,
            'episode_s': round(total, 3), 'per_turn_s': round(total / result.turns, 4),
            'execution_median_s': round(statistics.median(per_turn), 4),
            'robot': 'WarehouseRobotDouble (instant motion)'}


def markdown(data: dict[str, Any]) -> str:
    """Render the results as a short Markdown report."""
    lines = ['# Agent benchmark (LLM parts)', '',
             f'{data["time"]}, {data["machine"]}, load average {data["load_average"]}', '']
    for name in ('llama_cpp', 'ollama'):
        section = data[name]
        lines.append(f'## {name}')
        if 'skipped' in section:
            lines += [f'skipped: {section["skipped"]}', '']
            continue
        lines += ['', '| turn | prompt tok | cached | evaluated | first token s | gen tok/s |'
                  ' total s |', '|---|---|---|---|---|---|---|']
        rows = list(section['turns'])
        if 'turn3_without_kv_reuse' in section:
            rows.append({'turn': '3, no KV reuse', **section['turn3_without_kv_reuse']})
        for r in rows:
            lines.append(f'| {r["turn"]} | {r["prompt_tokens"]} | {r["cached_tokens"]} | '
                         f'{r["prompt_eval_tokens"]} | {r["first_token_s"]} | '
                         f'{r["tokens_per_s"]} | {r["total_s"]} |')
        if 'load_s' in section:
            lines.append(f'\nmodel load {section["load_s"]} s, {section["n_threads"]} threads, '
                         f'{section["prompt"]} system prompt')
        lines.append('')
    lo = data['loop_overhead']
    lines += ['## loop overhead (no model)', '']
    if 'skipped' in lo:
        lines += [f'skipped: {lo["skipped"]}', '']
    else:
        lines += [f'{lo["turns"]} turns in {lo["episode_s"]} s: {lo["per_turn_s"]} s per turn, '
                  f'sandboxed execution median {lo["execution_median_s"]} s ({lo["robot"]})',
                  '']
    lines += ['End-to-end task times with the simulator: added by the end-to-end benchmark.', '']
    return '\n'.join(lines)


SECTIONS = ('loop_overhead', 'ollama', 'llama_cpp')


def main(argv: list[str] | None = None) -> int:
    """Run the sections (default: all) and write the results."""
    parser = argparse.ArgumentParser(prog='python -m bench.bench_agent')
    parser.add_argument('sections', nargs='*', metavar='section',
                        help=f'any of {", ".join(SECTIONS)} (default: all); the others are '
                             'reported as not run')
    parser.add_argument('--short', action='store_true',
                        help='short prompt (3 functions, 3 places, no examples) for slow or '
                             'loaded machines')
    parser.add_argument('--no-cold', action='store_true',
                        help='skip the no-KV-reuse comparison (one more full prompt)')
    args = parser.parse_args(argv)
    OPTIONS.update(short=args.short, cold=not args.no_cold)
    selected = args.sections or SECTIONS
    unknown = set(selected) - set(SECTIONS)
    if unknown:
        parser.error(f'unknown sections {sorted(unknown)}; choose from {", ".join(SECTIONS)}')
    data: dict[str, Any] = {
        'time': datetime.now(timezone.utc).isoformat(timespec='seconds'),
        'machine': f'{platform.machine()}, {os.cpu_count()} cores, Python '
                   f'{platform.python_version()}',
        'load_average': [round(x, 2) for x in os.getloadavg()],
    }
    runners = {'loop_overhead': bench_loop_overhead, 'ollama': bench_ollama,
               'llama_cpp': bench_llama_cpp}
    for name in SECTIONS:
        data[name] = runners[name]() if name in selected else {
            'skipped': 'not run (not selected on the command line)'}
        print(name, json.dumps(data[name]), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / 'agent.json').write_text(json.dumps(data, indent=2) + '\n')
    (RESULTS / 'agent.md').write_text(markdown(data))
    print(f'wrote {RESULTS / "agent.json"} and agent.md')
    return 0


if __name__ == '__main__':
    sys.exit(main())
