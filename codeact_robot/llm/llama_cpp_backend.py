"""Embedded backend: llama.cpp in this process (llama-cpp-python) on a cached GGUF model.

One ``Llama`` object is kept for the backend's lifetime. Its KV cache holds the tokens of the last
call; llama-cpp-python re-evaluates only the tokens after the longest common prefix, so sending the
growing message list each turn processes the long system prompt once per episode (the reuse is
reported as ``Completion.cached_tokens``). Across processes, the state after the system prompt is
saved to disk (codeact_robot.llm.prompt_states) and loaded by the next process that sends it.
"""

from __future__ import annotations

import codecs
import ctypes
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from codeact_robot.llm.base import (
    Completion,
    ContextOverflowError,
    LlmBackend,
    LlmUnavailableError,
    Message,
    PrefillProgress,
    StreamGuard,
    TokenCallback,
    truncate_at_stop,
)
from codeact_robot.llm.prompt_states import PromptStateStore
from codeact_robot.llm.speculative import LookupSettings, LookupStats, generate_greedy
from codeact_robot.model_cache import cache_dir, model_path

PREFILL_CHUNK = 128  # prompt tokens per llama.cpp evaluation between deadline checks
# Shorter system prompts are processed faster than a state file is read and written.
MIN_SAVED_PREFIX = 256


def default_model_path() -> Path:
    """Return the verified Qwen2.5-Coder-1.5B GGUF in the cache ($CODEACT_ROBOT_CACHE/models)."""
    return model_path()


def default_prompt_state_dir() -> Path:
    """Return where system-prompt states are saved ($CODEACT_ROBOT_CACHE/prompt_states)."""
    return cache_dir() / 'prompt_states'


def llama_cpp_importable() -> bool:
    """Return True when llama-cpp-python can be imported."""
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return False
    return True


class LlamaCppBackend(LlmBackend):
    """Run a GGUF chat model in-process with llama.cpp, formatting with the model's template."""

    name = 'llama_cpp'

    def __init__(self, model_path: str | Path | None = None, context_size: int = 8192,
                 n_threads: int = 2, n_batch: int = 256, temperature: float = 0.0,
                 seed: int = 0, verbose: bool = False, prompt_cache: str | Path = '',
                 min_saved_prefix: int = MIN_SAVED_PREFIX, prompt_lookup: int = 0) -> None:
        """Load the model.

        Args:
            model_path: The GGUF file; None or '' for the verified default model.
            context_size: Context length in tokens (prompt plus reply).
            n_threads: CPU threads for prompt processing and generation.
            n_batch: Tokens per llama.cpp batch.
            temperature: Sampling temperature (0 = greedy, deterministic).
            seed: Sampling seed.
            verbose: Let llama.cpp print its logs.
            prompt_cache: Folder of saved system-prompt states; '' for
                $CODEACT_ROBOT_CACHE/prompt_states, 'off' to never save or load them.
            min_saved_prefix: Shortest system prompt (tokens) whose state is saved.
            prompt_lookup: Most tokens guessed at once by prompt-lookup decoding
                (codeact_robot.llm.speculative) when greedy; 0 (the default) decodes one
                token at a time: on a 2-core CPU the guesses cost more than they save
                (bench/results/llm.md).
        """
        path = Path(model_path).expanduser() if model_path else default_model_path()
        super().__init__(path.name)
        self.model_path = path
        self.context_size = context_size
        self.temperature = temperature
        if prompt_lookup < 0:
            raise ValueError(f'prompt_lookup must be >= 0, got {prompt_lookup}')
        self._lookup = LookupSettings(max_draft=prompt_lookup) if prompt_lookup else None
        if not path.is_file():
            raise LlmUnavailableError(
                f'model file {path} is missing; run `make setup` (or scripts/fetch_model.py '
                '--models-dir <cache>/models) or set model_path')
        try:
            import llama_cpp
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter
        except ImportError as e:
            raise LlmUnavailableError(
                'llama-cpp-python is not installed; run `make setup` or '
                "`pip install 'codeact_robot[llama]'`") from e
        try:
            self._llm = llama_cpp.Llama(model_path=str(path), n_ctx=context_size,
                                        n_threads=n_threads, n_threads_batch=n_threads,
                                        n_batch=n_batch, seed=seed, verbose=verbose)
        except (ValueError, RuntimeError) as e:
            raise LlmUnavailableError(f'llama.cpp could not load {path}: {e}') from e
        template = self._llm.metadata.get('tokenizer.chat_template')
        if not template:
            raise LlmUnavailableError(f'{path} has no tokenizer.chat_template in its metadata')
        eos_id = self._llm.token_eos()
        bos_id = self._llm.token_bos()
        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=self._token_text(eos_id),
            bos_token=self._token_text(bos_id) if bos_id >= 0 else '',
            stop_token_ids=[eos_id])
        self._lock = threading.Lock()
        self._min_saved_prefix = min_saved_prefix
        self._states: PromptStateStore | None = None
        if str(prompt_cache).lower() != 'off':
            identity = (f'{path.name}:{path.stat().st_size}:{llama_cpp.__version__}:'
                        f'{context_size}')
            self._states = PromptStateStore(prompt_cache or default_prompt_state_dir(),
                                            identity)

    def _token_text(self, token: int) -> str:
        return self._llm.detokenize([token], special=True).decode('utf-8', errors='replace')

    def tokenize_chat(self, messages: Sequence[Message]) -> tuple[list[int], list[str]]:
        """Apply the chat template; return the prompt tokens and the template's stop strings."""
        formatted = self._formatter(messages=list(messages))
        tokens = self._llm.tokenize(formatted.prompt.encode('utf-8'),
                                    add_bos=not formatted.added_special, special=True)
        stops = formatted.stop if isinstance(formatted.stop, list) else [formatted.stop]
        return tokens, [s for s in stops if s]

    def complete(self, messages: Sequence[Message], *, stop: Sequence[str] = (),
                 max_tokens: int = 512, timeout: float = 120.0,
                 on_token: TokenCallback | None = None,
                 cancel: threading.Event | None = None) -> Completion:
        """Generate one reply, reusing the KV cache prefix; see LlmBackend.complete.

        The deadline is checked between tokens: prompt processing itself is not interrupted.
        """
        with self._lock:
            return self._complete(messages, stop, max_tokens, timeout, on_token, cancel)

    def _complete(self, messages: Sequence[Message], stop: Sequence[str], max_tokens: int,
                  timeout: float, on_token: TokenCallback | None,
                  cancel: threading.Event | None) -> Completion:
        guard = StreamGuard(timeout, cancel, f'llama.cpp {self.model}')
        tokens, template_stops = self.tokenize_chat(messages)
        room = self.context_size - len(tokens)
        if room < 32:
            raise ContextOverflowError(
                f'the conversation ({len(tokens)} tokens) does not fit the context of '
                f'{self.context_size} tokens; raise context_size or use fewer turns')
        cached = self._cached_prefix(tokens)
        in_cache, state = self._system_prompt_state(messages, tokens, cached, guard)
        if state == 'loaded':
            cached = in_cache
        all_stops = [*stop, *template_stops]
        extra: dict[str, Any] = {'prompt_eval_tokens': len(tokens) - cached,
                                 'prompt_state': state}
        lookup = self._lookup is not None and self.temperature == 0.0
        # With lookup the last prompt token is evaluated with the first guess.
        head = tokens[:-1] if lookup else tokens
        self._prefill(head, min(in_cache, len(head)), guard)
        extra['prompt_eval_seconds'] = round(guard.elapsed(), 3)
        guard.check()
        if lookup:
            text, generated, reason = self._generate_lookup(
                tokens, all_stops, min(max_tokens, room), guard, on_token, extra)
        else:
            text, generated, reason = self._generate_sampled(
                tokens, all_stops, min(max_tokens, room), guard, on_token)
        return Completion(
            text=text, backend=self.name, model=self.model, prompt_tokens=len(tokens),
            completion_tokens=generated, cached_tokens=cached, seconds=guard.elapsed(),
            first_token_seconds=guard.first_token, finish_reason=reason, extra=extra)

    def _generate_lookup(self, tokens: list[int], stops: list[str], max_tokens: int,
                         guard: StreamGuard, on_token: TokenCallback | None,
                         extra: dict[str, Any]) -> tuple[str, int, str]:
        """Greedy generation with prompt-lookup guesses; the KV cache holds tokens[:-1]."""
        decoder = codecs.getincrementaldecoder('utf-8')('replace')
        hold = max((len(s) for s in stops), default=1) - 1  # a stop string may be starting
        text, shown = '', 0

        def on_tokens(new: list[int]) -> bool:
            nonlocal text, shown
            guard.check()
            for _ in new:
                guard.token()
            text += decoder.decode(self._llm.detokenize(new))
            text, found = truncate_at_stop(text, stops)
            upto = len(text) if found else max(shown, len(text) - hold)
            if on_token is not None and upto > shown:
                on_token(text[shown:upto])
            shown = upto
            return found

        stats = LookupStats()
        out, reason = generate_greedy(_LlamaGreedy(self._llm), tokens, max_tokens,
                                      self.context_size, on_tokens, self._lookup, stats)
        text, _ = truncate_at_stop(text + decoder.decode(b'', final=True), stops)
        if on_token is not None and len(text) > shown:
            on_token(text[shown:])
        extra.update(lookup_passes=stats.passes, lookup_drafted=stats.drafted,
                     lookup_accepted=stats.accepted)
        return text, len(out), reason

    def _generate_sampled(self, tokens: list[int], all_stops: list[str], max_tokens: int,
                          guard: StreamGuard, on_token: TokenCallback | None
                          ) -> tuple[str, int, str]:
        """Generate with llama-cpp-python's sampler (temperature > 0, or lookup off)."""
        pieces: list[str] = []
        reason = 'stop'
        stream: Any = self._llm.create_completion(
            prompt=tokens, max_tokens=max_tokens, stop=all_stops,
            temperature=self.temperature, stream=True)
        try:
            for chunk in stream:
                guard.check()
                choice = chunk['choices'][0]
                piece = choice.get('text') or ''
                if piece:
                    guard.token()
                    pieces.append(piece)
                    if on_token is not None:
                        on_token(piece)
                if choice.get('finish_reason'):
                    reason = choice['finish_reason']
        finally:
            stream.close()
        generated = max(0, int(self._llm.n_tokens) - len(tokens))
        text, _ = truncate_at_stop(''.join(pieces), all_stops)
        return text, generated, reason

    def _prefill(self, tokens: list[int], cached: int, guard: StreamGuard,
                 saved: bool = False) -> None:
        """Evaluate the prompt after the cached prefix in chunks, checking the deadline.

        llama.cpp cannot be interrupted inside one evaluation; chunks make the generation
        timeout and cancel apply during a long prompt too. Generation then finds the whole
        prompt cached and samples at once.
        """
        self._llm.n_tokens = cached  # eval() drops the KV cache after n_tokens first
        total = len(tokens) - cached
        report = self.on_prefill if total > PREFILL_CHUNK else None  # long prompts only
        began = time.monotonic()
        for i in range(cached, len(tokens), PREFILL_CHUNK):
            guard.check()
            self._llm.eval(tokens[i:i + PREFILL_CHUNK])
            if report is not None:
                report(PrefillProgress(min(i + PREFILL_CHUNK, len(tokens)) - cached, total,
                                       time.monotonic() - began, saved))

    def _system_prompt_state(self, messages: Sequence[Message], tokens: list[int],
                             cached: int, guard: StreamGuard) -> tuple[int, str]:
        """Bring the system prompt into the KV cache from disk, or save it there.

        Returns the number of prompt tokens now in the KV cache and what happened: 'loaded'
        (from a file), 'saved' (processed now and written), or '' (nothing to do: no long
        system prompt, it is already in memory, or the store is off).
        """
        if self._states is None or not messages or messages[0].get('role') != 'system':
            return cached, ''
        system_tokens, _ = self.tokenize_chat(messages[:1])
        prefix = 0
        for a, b in zip(system_tokens, tokens, strict=False):
            if a != b:
                break
            prefix += 1
        prefix = min(prefix, len(tokens) - 1)
        if prefix < self._min_saved_prefix or cached >= prefix:
            return cached, ''
        head = tokens[:prefix]
        blob = self._states.load(head)
        if blob is not None:
            if self._set_state(head, blob):
                return prefix, 'loaded'
            self._states.discard(head)  # another llama.cpp build wrote it: process anew
            cached = 0
        self._prefill(head, cached, guard, saved=True)
        try:
            self._states.save(head, self._get_state())
        except OSError:
            return prefix, ''  # a full or read-only disk costs speed, not the reply
        return prefix, 'saved'

    def _get_state(self) -> bytes:
        import llama_cpp
        ctx = self._llm._ctx.ctx
        size = llama_cpp.llama_state_get_size(ctx)
        buf = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_get_data(ctx, buf, size)
        return ctypes.string_at(buf, written)  # one copy of ~60 MB, not two

    def _set_state(self, tokens: list[int], blob: bytes) -> bool:
        import llama_cpp
        buf = (ctypes.c_uint8 * len(blob)).from_buffer_copy(blob)
        if llama_cpp.llama_state_set_data(self._llm._ctx.ctx, buf, len(blob)) != len(blob):
            self._llm.reset()  # n_tokens 0: the next eval drops whatever was set
            return False
        self._llm.input_ids[:len(tokens)] = tokens
        self._llm.n_tokens = len(tokens)
        return True

    def _cached_prefix(self, tokens: list[int]) -> int:
        """Count the prompt tokens already in the KV cache (what llama.cpp will skip)."""
        held = self._llm.input_ids[:self._llm.n_tokens].tolist()
        n = 0
        for a, b in zip(held, tokens, strict=False):
            if a != b:
                break
            n += 1
        # llama-cpp-python re-evaluates the last prompt token to get fresh logits.
        return min(n, len(tokens) - 1)

    def reset(self) -> None:
        """Start a new episode.

        The KV cache is kept on purpose: reuse is decided by comparing token ids, so it is
        always correct, and an identical system prompt is then not processed again.
        """
        return None

    def clear_cache(self) -> None:
        """Drop the KV cache so the next call processes its whole prompt (benchmarks)."""
        with self._lock:
            self._llm.reset()

    def close(self) -> None:
        """Free the model and its context."""
        with self._lock:
            closer = getattr(self._llm, 'close', None)
            if closer is not None:
                closer()


class _LlamaGreedy:
    """A llama-cpp-python model as a speculative.GreedyModel.

    Keeps ``Llama.input_ids``/``n_tokens`` in step with the KV cache, so the next call's prefix
    reuse (``_cached_prefix``) sees what the cache really holds.
    """

    def __init__(self, llm: Any) -> None:
        import llama_cpp
        import numpy as np

        self._llm, self._np, self._lib = llm, np, llama_cpp
        self._n_vocab = llm.n_vocab()
        self._vocab = llm._model.vocab

    def decode(self, tokens: Sequence[int], n_past: int) -> Any:
        """Evaluate tokens from n_past with logits at every position; return their argmax."""
        llm = self._llm
        llm._ctx.kv_cache_seq_rm(-1, n_past, -1)  # entries left from an earlier call
        llm._batch.set_batch(batch=list(tokens), n_past=n_past, logits_all=True)
        llm._ctx.decode(llm._batch)
        llm.input_ids[n_past:n_past + len(tokens)] = tokens
        llm.n_tokens = n_past + len(tokens)
        logits = self._np.ctypeslib.as_array(llm._ctx.get_logits(),
                                             shape=(len(tokens), self._n_vocab))
        return logits.argmax(axis=1)

    def forget(self, n_past: int) -> None:
        """Drop the KV cache from n_past on."""
        self._llm._ctx.kv_cache_seq_rm(-1, n_past, -1)
        self._llm.n_tokens = min(int(self._llm.n_tokens), n_past)

    def is_end(self, token: int) -> bool:
        """Return True for an end-of-generation token of the model's vocabulary."""
        return bool(self._lib.llama_vocab_is_eog(self._vocab, token))
