"""LLM backends behind one interface: Ollama, embedded llama.cpp, OpenAI-compatible, replay.

``create_backend('auto')`` picks Ollama when a server answers, otherwise the embedded model.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from codeact_robot.llm.base import (
    Completion,
    ContextOverflowError,
    GenerationCancelledError,
    GenerationTimeoutError,
    LlmBackend,
    LlmError,
    LlmUnavailableError,
    Message,
    ModelNotFoundError,
    PrefillProgress,
)
from codeact_robot.llm.replay import ReplayBackend, ReplayExhaustedError

BACKENDS = ('auto', 'ollama', 'llama_cpp', 'openai', 'replay')

__all__ = [
    'BACKENDS', 'Completion', 'ContextOverflowError', 'GenerationCancelledError',
    'GenerationTimeoutError', 'LlmBackend', 'LlmError', 'LlmUnavailableError', 'Message',
    'ModelNotFoundError', 'PrefillProgress', 'ReplayBackend', 'ReplayExhaustedError',
    'backend_class', 'create_backend',
]


def backend_class(name: str) -> type[LlmBackend]:
    """Return the backend class for a name (imports optional dependencies lazily)."""
    if name == 'ollama':
        from codeact_robot.llm.ollama_backend import OllamaBackend
        return OllamaBackend
    if name == 'llama_cpp':
        from codeact_robot.llm.llama_cpp_backend import LlamaCppBackend
        return LlamaCppBackend
    if name == 'openai':
        from codeact_robot.llm.openai_backend import OpenAiBackend
        return OpenAiBackend
    if name == 'replay':
        return ReplayBackend
    raise ValueError(f'unknown LLM backend {name!r}; choose one of {", ".join(BACKENDS)}')


def _params(cls: type | Callable[..., Any]) -> set[str]:
    return {p for p in inspect.signature(cls).parameters if p != 'self'}


def _kwargs_for(cls: type[LlmBackend], config: dict[str, Any]) -> dict[str, Any]:
    """Keep the settings ``cls`` accepts; reject settings no backend accepts (typos)."""
    known = set().union(*(_params(backend_class(n)) for n in BACKENDS[1:]))
    unknown = sorted(set(config) - known)
    if unknown:
        raise TypeError(f'unknown LLM settings {unknown}; known: {sorted(known)}')
    accepted = _params(cls)
    # Empty strings stand for "not set" in ROS parameters and YAML.
    return {k: v for k, v in config.items() if k in accepted and v is not None and v != ''}


def create_backend(name: str = 'auto', **config: Any) -> LlmBackend:
    """Create an LLM backend by name.

    Args:
        name: 'auto', 'ollama', 'llama_cpp', 'openai' or 'replay'.
        **config: Backend settings (model, host, base_url, api_key, temperature, context_size,
            keep_alive, model_path, n_threads, completions, script, ...); settings another
            backend uses are ignored, unknown ones raise TypeError.

    Returns:
        The backend. 'auto' returns Ollama when a server answers at host / $OLLAMA_HOST,
        otherwise the embedded llama.cpp model.

    Raises:
        LlmUnavailableError: No backend can be used (the message says how to fix it).
    """
    if name != 'auto':
        cls = backend_class(name)
        return cls(**_kwargs_for(cls, config))
    from codeact_robot.llm.llama_cpp_backend import (
        default_model_path,
        llama_cpp_importable,
    )
    from codeact_robot.llm.ollama_backend import ollama_available, ollama_host

    host = config.get('host') or None
    if ollama_available(host):
        cls = backend_class('ollama')
        return cls(**_kwargs_for(cls, config))
    model_path = config.get('model_path') or default_model_path()
    no_ollama = (f'no Ollama server answers at {ollama_host(host)} (start `ollama serve` or '
                 'set OLLAMA_HOST)')
    if not llama_cpp_importable():
        raise LlmUnavailableError(
            f'no LLM available: {no_ollama}, and llama-cpp-python is not installed for the '
            f'embedded model {model_path} (run `make setup`)')
    cls = backend_class('llama_cpp')
    try:
        return cls(**_kwargs_for(cls, {**config, 'model_path': model_path}))
    except LlmUnavailableError as e:
        raise LlmUnavailableError(f'no LLM available: {no_ollama}, and {e}') from e
