"""The on-disk store of model states after long system prompts (no model needed)."""

import os

import pytest

from codeact_robot.llm.prompt_states import PromptStateStore


def test_state_round_trips_only_for_the_same_tokens_and_model(tmp_path):
    store = PromptStateStore(tmp_path / 'states', 'model.gguf:123:0.3:4096')
    tokens = list(range(300))
    assert store.load(tokens) is None
    store.save(tokens, b'kv' * 1000)
    assert store.load(tokens) == b'kv' * 1000
    assert store.load(tokens[:-1]) is None
    other_model = PromptStateStore(tmp_path / 'states', 'model.gguf:123:0.3:8192')
    assert other_model.load(tokens) is None


def test_truncated_file_is_removed_instead_of_loaded(tmp_path):
    store = PromptStateStore(tmp_path, 'm')
    path = store.save([1, 2, 3], b'state')
    path.write_bytes(path.read_bytes()[:4])
    assert store.load([1, 2, 3]) is None and not path.exists()


def test_least_recently_used_states_are_evicted(tmp_path):
    store = PromptStateStore(tmp_path, 'm', max_files=2)
    a, b, c = [1], [2], [3]
    store.save(a, b'a')
    store.save(b, b'b')
    os.utime(store.path_for(a), (1, 1))
    os.utime(store.path_for(b), (2, 2))
    assert store.load(a) == b'a'  # a is used again: b is now the oldest
    store.save(c, b'c')
    assert store.load(b) is None and store.load(a) == b'a' and store.load(c) == b'c'
    assert len(store.files()) == 2
    assert not list(tmp_path.glob('.*.tmp'))


def test_max_files_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match='max_files'):
        PromptStateStore(tmp_path, 'm', max_files=0)
