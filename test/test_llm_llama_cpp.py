"""Embedded llama.cpp backend on the real Qwen2.5-Coder-1.5B GGUF: generation and KV reuse."""

from __future__ import annotations

import pytest

from codeact_robot.llm import ContextOverflowError, LlmUnavailableError, create_backend
from codeact_robot.llm.llama_cpp_backend import (
    LlamaCppBackend,
    default_model_path,
    llama_cpp_importable,
)

pytestmark = [pytest.mark.model, pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope='module')
def backend():
    if not llama_cpp_importable():
        pytest.skip('llama-cpp-python is not installed (make setup builds it)')
    if not default_model_path().is_file():
        pytest.skip(f'model {default_model_path()} missing (make setup fetches it)')
    # No saved prompt states here: these tests measure processing the prompt in this process.
    b = LlamaCppBackend(context_size=4096, n_threads=2, prompt_cache='off')
    yield b
    b.close()


SYSTEM = ('You are a robot that writes Python. Reply with exactly one ```python block. '
          + ' '.join(f'Place {i}: shelf {i} at x={i}.0, y={2 * i}.0.' for i in range(12)))


def test_two_turns_reuse_the_system_prompt(backend):
    backend.clear_cache()
    system_tokens = len(backend.tokenize_chat([{'role': 'system', 'content': SYSTEM}])[0])
    messages = [{'role': 'system', 'content': SYSTEM},
                {'role': 'user', 'content': 'Print the x of shelf 3.'}]
    reports = []
    backend.on_prefill = reports.append
    try:
        first = backend.complete(messages, stop=['\nObservation:'], max_tokens=40,
                                 timeout=600)
    finally:
        backend.on_prefill = None
    assert '```' in first.text or 'print' in first.text
    # A long prompt reports its progress, chunk by chunk, to the end.
    assert len(reports) >= 2 and reports[-1].done == reports[-1].total >= system_tokens
    assert [r.done for r in reports] == sorted({r.done for r in reports})
    assert reports[-1].rate > 0 and not reports[-1].saved
    assert first.cached_tokens == 0 and first.prompt_tokens > system_tokens > 200
    assert first.completion_tokens and first.completion_tokens <= 40
    messages += [{'role': 'assistant', 'content': first.text},
                 {'role': 'user', 'content': 'Observation: 3.0\nNow print its y.'}]
    second = backend.complete(messages, max_tokens=40, timeout=600)
    print(f'turn 1: {first.prompt_tokens} prompt tokens in {first.first_token_seconds:.1f} s; '
          f'turn 2: {second.extra["prompt_eval_tokens"]} new of {second.prompt_tokens} in '
          f'{second.first_token_seconds:.1f} s')
    # Turn 2 evaluates only what follows the cached prefix: never the system prompt again.
    assert second.cached_tokens >= first.prompt_tokens
    assert second.extra['prompt_eval_tokens'] < second.prompt_tokens - system_tokens


def test_a_new_process_loads_the_saved_system_prompt_state(backend, tmp_path):
    messages = [{'role': 'system', 'content': SYSTEM},
                {'role': 'user', 'content': 'Print the x of shelf 3.'}]
    writer = LlamaCppBackend(context_size=4096, n_threads=2, prompt_cache=tmp_path)
    try:
        saved = writer.complete(messages, max_tokens=24, timeout=600)
    finally:
        writer.close()
    assert saved.extra['prompt_state'] == 'saved' and saved.cached_tokens == 0
    assert len(list(tmp_path.glob('*.kvstate'))) == 1
    # A fresh backend, as in the next `codeact-robot run`, starts from the saved state.
    reader = LlamaCppBackend(context_size=4096, n_threads=2, prompt_cache=tmp_path)
    try:
        loaded = reader.complete(messages, max_tokens=24, timeout=600)
        other = reader.complete([messages[0], {'role': 'user', 'content': 'Print shelf 5.'}],
                                max_tokens=8, timeout=600)
    finally:
        reader.close()
    system_tokens = len(backend.tokenize_chat(messages[:1])[0])
    assert loaded.extra['prompt_state'] == 'loaded'
    assert loaded.cached_tokens >= system_tokens - 3  # all but the generation prompt's tail
    assert loaded.extra['prompt_eval_tokens'] < loaded.prompt_tokens - system_tokens + 8
    # The loaded state is the saved one bit for bit: greedy decoding gives the same reply.
    assert loaded.text == saved.text
    # Another task with the same system prompt reuses it from memory now.
    assert other.extra['prompt_state'] == '' and other.cached_tokens >= system_tokens - 3


def test_prompt_lookup_copies_in_fewer_passes_and_writes_the_same_reply(backend):
    line = ('r = go_to("shelf C"); print(fetch("green box", to="packing station")); '
            'print(look("shelf D"))')
    messages = [{'role': 'system', 'content': SYSTEM},
                {'role': 'user', 'content': f'Repeat this line exactly, in a ```python block:\n'
                                            f'{line}'}]
    slow = backend.complete(messages, max_tokens=80, timeout=600)  # one token at a time
    lookup = LlamaCppBackend(context_size=4096, n_threads=2, prompt_cache='off', prompt_lookup=8)
    streamed: list[str] = []
    try:
        fast = lookup.complete(messages, max_tokens=80, timeout=600)
        again = lookup.complete(messages, max_tokens=80, timeout=600, on_token=streamed.append)
    finally:
        lookup.close()
    print(f'prompt lookup: {fast.completion_tokens} tokens in {fast.extra["lookup_passes"]} '
          f'passes, {fast.extra["lookup_accepted"]}/{fast.extra["lookup_drafted"]} guesses taken')
    assert line in fast.text
    # A copied line is guessed and taken in long runs: far fewer passes than tokens.
    assert fast.extra['lookup_accepted'] >= 10
    assert fast.extra['lookup_passes'] < fast.completion_tokens / 2
    # The same reply as one token at a time, also from a warm cache and when streamed.
    assert fast.text == slow.text == again.text == ''.join(streamed)
    assert again.cached_tokens >= fast.prompt_tokens - 1


def test_context_overflow_is_reported(backend):
    with pytest.raises(ContextOverflowError, match='does not fit'):
        backend.complete([{'role': 'user', 'content': 'shelf ' * 5000}], max_tokens=8)


def test_missing_model_file_is_a_clear_error(tmp_path):
    with pytest.raises(LlmUnavailableError, match='missing'):
        create_backend('llama_cpp', model_path=tmp_path / 'nope.gguf')
