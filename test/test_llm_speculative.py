"""Prompt-lookup decoding against a model double whose greedy text is known in advance.

The double (a boundary double: the real model is checked in test_llm_llama_cpp.py) answers
each position with the next token of a fixed text and keeps a KV cache it checks: every
evaluation must start where the cache ends, as llama.cpp requires.
"""

from __future__ import annotations

import numpy as np
import pytest

from codeact_robot.llm.speculative import (
    LookupSettings,
    LookupStats,
    find_draft,
    generate_greedy,
)

END = 0


class TextModel:
    """Greedy 'model' of one fixed token sequence; evaluation must continue the cache."""

    def __init__(self, text: list[int]) -> None:
        self.text = text
        self.kv: list[int] = []
        self.evaluated = 0

    def decode(self, tokens, n_past):
        assert n_past == len(self.kv), 'evaluation does not continue the cache'
        self.kv.extend(tokens)
        self.evaluated += len(tokens)
        # After a wrong guess the model sees another text: its choice there is some other token.
        return np.array([self.text[n + 1] if self.kv[:n + 1] == self.text[:n + 1] else 999
                         for n in range(n_past, n_past + len(tokens))])

    def forget(self, n_past):
        del self.kv[n_past:]

    def is_end(self, token):
        return token == END


def _run(text, prompt_len, max_tokens=100, on_tokens=None, settings=None):
    model = TextModel(text)
    prompt = text[:prompt_len]
    model.decode(prompt[:-1], 0)  # the caller's prefill: the cache holds prompt[:-1]
    stats = LookupStats()
    out, reason = generate_greedy(model, prompt, max_tokens, n_ctx=1000,
                                  on_tokens=on_tokens or (lambda new: False),
                                  settings=settings, stats=stats)
    return model, prompt, out, reason, stats


# A "conversation" whose reply repeats earlier runs: names and a line of the previous turn.
PROMPT = [5, 6, 7, 8, 9, 10, 11, 12, 5, 6, 7, 8, 13, 14, 15, 16, 17]
REPLY = [5, 6, 7, 8, 9, 10, 11, 12, 20, 21, 13, 14, 15, 16, 17, 22]


def test_the_output_is_the_greedy_text_in_fewer_passes():
    model, prompt, out, reason, stats = _run(PROMPT + REPLY + [END], len(PROMPT))
    assert out == REPLY and reason == 'stop'
    assert stats.accepted > 0 and stats.passes < len(REPLY)
    assert model.kv == (prompt + out)[:-1]


def test_without_anything_to_copy_it_is_plain_greedy():
    reply = [30, 31, 32, 33, 34]
    model, prompt, out, reason, stats = _run([1, 2, 3] + reply + [END], 3)
    assert out == reply and stats.drafted == 0 and stats.passes == len(reply) + 1
    assert model.kv == (prompt + out)[:-1]


def test_an_end_token_inside_accepted_guesses_ends_the_reply_there():
    # The earlier turn was 4 7 8 9 END; the reply after "4 7" repeats it, END included.
    text = [4, 7, 8, 9, END, 3, 4, 7, 8, 9, END, 55]
    model, prompt, out, reason, stats = _run(text, 8)
    assert out == [8, 9] and reason == 'stop' and stats.accepted >= 2
    assert model.kv == (prompt + out)[:-1]


def test_max_tokens_and_a_stop_from_the_caller_leave_the_cache_matching_the_text():
    text = PROMPT + REPLY + [END]
    model, prompt, out, reason, _ = _run(text, len(PROMPT), max_tokens=5)
    assert out == REPLY[:5] and reason == 'length' and model.kv == (prompt + out)[:-1]
    seen = []
    model, prompt, out, reason, _ = _run(text, len(PROMPT),
                                         on_tokens=lambda new: seen.extend(new) or 12 in seen)
    assert reason == 'stop' and 12 in out and len(out) < len(REPLY)
    assert model.kv == (prompt + out)[:-1]


def test_an_error_from_the_caller_leaves_the_cache_matching_the_text():
    class Timeout(Exception):
        pass

    def timeout(new):
        raise Timeout

    model = TextModel(PROMPT + REPLY + [END])
    model.decode(PROMPT[:-1], 0)
    with pytest.raises(Timeout):
        generate_greedy(model, PROMPT, 50, 1000, timeout)
    assert len(model.kv) >= len(PROMPT) and model.kv == model.text[:len(model.kv)]


def test_find_draft_prefers_the_longest_and_latest_earlier_run():
    seq = np.array([1, 2, 3, 40, 9, 2, 3, 50, 51, 7, 2, 3])
    s = LookupSettings(max_ngram=3, min_ngram=1, max_draft=8)
    assert find_draft(seq, s, 2) == [50, 51]           # "2 3" last seen before 50 51
    seq2 = np.array([1, 2, 3, 40, 9, 2, 3, 50, 1, 2, 3])
    assert find_draft(seq2, s, 3) == [40, 9, 2]         # "1 2 3" beats the later "2 3"
    assert find_draft(np.array([1, 2, 3, 4]), s, 3) == []
    assert find_draft(seq, LookupSettings(min_ngram=2), 0) == []


def test_settings_are_validated():
    with pytest.raises(ValueError, match='min_ngram'):
        LookupSettings(max_ngram=2, min_ngram=3)
    with pytest.raises(ValueError, match='max_draft'):
        LookupSettings(max_draft=0)
