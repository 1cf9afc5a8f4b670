"""Greedy decoding with prompt lookup: guess the next tokens from earlier text, check them at once.

On two CPU cores the 1.5B model writes ~11-19 tokens/s one token at a time, but evaluates a batch
of tokens about 2.5 times faster per token. The model's code copies much of what came before it
(function and place names from the system prompt, whole lines of its previous turn), so the
tokens that followed the same few tokens earlier in the conversation are a good guess for what
comes next (prompt-lookup decoding). One forward pass over ``[last token, guess...]`` gives the
model's own greedy choice after each of them: the guess is kept up to the first token where the
two differ, and that position's choice comes for free. The output is what plain greedy decoding
writes, up to floating-point differences between batched and one-token evaluation (bench_llm
compares them on recorded turns).

A wrong guess costs time on a CPU (every guessed token is computed), so the guess length adapts:
it grows while guesses are taken whole and shrinks to what was taken when one fails.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


class GreedyModel(Protocol):
    """What prompt-lookup decoding needs of a model with a KV cache."""

    def decode(self, tokens: Sequence[int], n_past: int) -> np.ndarray:
        """Evaluate ``tokens`` from position ``n_past``; return the greedy token after each."""

    def forget(self, n_past: int) -> None:
        """Drop the KV cache from position ``n_past`` on."""

    def is_end(self, token: int) -> bool:
        """Return True for an end-of-generation token."""


@dataclass
class LookupSettings:
    """How far to look back and how much to guess.

    Attributes:
        max_ngram: Longest run of last tokens searched for earlier in the text.
        min_ngram: Shortest run that may produce a guess (1 guesses from a single token:
            often wrong, and a wrong guess is paid for on a CPU).
        max_draft: Most tokens guessed at once.
    """

    max_ngram: int = 3
    min_ngram: int = 2
    max_draft: int = 8

    def __post_init__(self) -> None:
        if not 1 <= self.min_ngram <= self.max_ngram:
            raise ValueError(f'need 1 <= min_ngram <= max_ngram, got {self.min_ngram}, '
                             f'{self.max_ngram}')
        if self.max_draft < 1:
            raise ValueError(f'max_draft must be at least 1, got {self.max_draft}')


@dataclass
class LookupStats:
    """Counts of one generation: forward passes, guessed and accepted tokens."""

    passes: int = 0
    drafted: int = 0
    accepted: int = 0


def find_draft(seq: np.ndarray, settings: LookupSettings, limit: int) -> list[int]:
    """Return up to ``limit`` tokens that followed the last tokens of ``seq`` earlier on.

    The longest run of last tokens (``max_ngram`` down to ``min_ngram``) that occurred before
    wins, and its latest occurrence; [] when none did.
    """
    if limit <= 0:
        return []
    for n in range(settings.max_ngram, settings.min_ngram - 1, -1):
        if len(seq) <= n:
            continue
        # Windows of seq[:-1] start at 0 .. len-1-n: every earlier run, not the tail itself.
        windows = sliding_window_view(seq[:-1], n)
        hits = np.flatnonzero((windows == seq[-n:]).all(axis=1))
        if len(hits):
            start = int(hits[-1]) + n
            return seq[start:start + limit].tolist()
    return []


def generate_greedy(model: GreedyModel, prompt: Sequence[int], max_tokens: int, n_ctx: int,
                    on_tokens: Callable[[list[int]], bool],
                    settings: LookupSettings | None = None,
                    stats: LookupStats | None = None) -> tuple[list[int], str]:
    """Generate greedily after ``prompt`` with prompt-lookup guesses.

    The KV cache must hold ``prompt[:-1]`` (the last prompt token is evaluated here); on return
    it holds ``(prompt + generated)[:-1]``, whatever ended the generation.

    Args:
        model: The model.
        prompt: The prompt's tokens.
        max_tokens: Most tokens to generate.
        n_ctx: Context length: guesses never run past it.
        on_tokens: Called with each batch of new tokens (end token excluded); True stops.
        settings: Guessing parameters.
        stats: Filled with counts when given.

    Returns:
        The generated tokens and why generation ended: 'stop' (end token or on_tokens) or
        'length' (max_tokens).
    """
    settings = settings or LookupSettings()
    stats = stats if stats is not None else LookupStats()
    seq = [int(t) for t in prompt]
    generated: list[int] = []
    n_past = len(seq) - 1
    guess = settings.max_draft // 2 or 1
    reason = 'length'
    try:
        while len(generated) < max_tokens:
            limit = min(guess, max_tokens - len(generated) - 1, n_ctx - len(seq) - 1)
            draft = find_draft(np.asarray(seq, dtype=np.int64), settings, limit)
            preds = model.decode([seq[-1], *draft], n_past)
            stats.passes += 1
            taken = 0
            while taken < len(draft) and int(preds[taken]) == draft[taken]:
                taken += 1
            stats.drafted += len(draft)
            stats.accepted += taken
            new = [*draft[:taken], int(preds[taken])]
            n_past += 1 + taken
            if taken < len(draft):
                model.forget(n_past)  # the rejected guesses' cache entries
            if draft:
                guess = (min(settings.max_draft, guess * 2) if taken == len(draft)
                         else max(1, taken + 1))
            end = next((i for i, t in enumerate(new) if model.is_end(t)), None)
            if end is not None:
                new = new[:end]
            seq.extend(new)
            generated.extend(new)
            if (new and on_tokens(new)) or end is not None:
                reason = 'stop'
                break
    finally:
        # Whatever ended it (an end token inside accepted guesses, a stop, a timeout raised
        # from on_tokens or the model), the cache must match the text: it holds seq[:-1].
        model.forget(len(seq) - 1)
    return generated, reason
