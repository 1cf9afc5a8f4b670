"""The embedded model is in the cache, matches its published sha256, and runs in llama.cpp."""

import pytest

from codeact_robot.model_cache import DEFAULT_MODEL, MODELS, model_path, sha256_of

pytestmark = pytest.mark.model


def test_model_file_matches_the_published_hash():
    path = model_path()
    assert path.is_file(), f'{path} missing: run make setup'
    source = MODELS[DEFAULT_MODEL]
    assert path.stat().st_size == source.size
    assert sha256_of(path) == source.sha256


def test_llama_cpp_loads_the_model_and_generates_tokens():
    from llama_cpp import Llama

    llm = Llama(model_path=str(model_path()), n_ctx=256, n_threads=2, verbose=False, seed=0)
    out = llm.create_completion('def add(a, b):\n    return', max_tokens=6, temperature=0.0)
    text = out['choices'][0]['text']
    assert out['usage']['completion_tokens'] > 0
    assert 'a' in text and 'b' in text, text
