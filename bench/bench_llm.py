"""Embedded-model speed on recorded agent turns: builds and decoding side by side, same turns.

Run from the repository root: ``.venv/bin/python -m bench.bench_llm``. Writes
bench/results/llm.json and bench/results/llm.md.

The turns are real CodeAct turns from the evaluation's transcripts (bench/results/eval): each
episode's conversation is rebuilt (system prompt, the prompt file's examples, the task, then
the model's replies and the observations it got) and checked against the prompt size the
transcript recorded; an episode whose rebuild does not match is left out, and the results say
how many were.
Every variant replays the same turns in order, episode by episode, in a fresh process, so KV
cache reuse between turns is what an episode gets:

- ``installed``: the build `make setup` put in the venv (scripts/build_llama_wheel.sh: avx512 or
  portable, see the system info in the results) or, with ``--build NAME=DIR``, a
  llama-cpp-python installed into DIR (``pip install --target DIR``);
- ``lookup``: prompt-lookup decoding on (codeact_robot.llm.speculative) or off.

``--with-sim`` runs the embedded simulator and skills node beside the model, robot at rest, as
in an episode while the model writes. Reported per variant: prompt tokens/s (turns that
evaluated at least 32 new prompt tokens), generated tokens/s, time to first token and seconds per
turn (medians), and how many replies are identical to the first variant's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / 'results'
EPISODES = RESULTS / 'eval' / 'episodes' / 'llama_cpp' / 'codeact'
MAX_TOKENS = 400  # as the agent's generation limit: replies end at their stop strings


def _transcripts(root: Path) -> list[Path]:
    return sorted(root.glob('seed*/*/*.jsonl'))


def rebuild_turns(path: Path) -> list[dict[str, Any]]:
    """Return one episode's turns as message lists, each with the prompt size recorded then."""
    from codeact_robot.agent.prompt import example_messages, load_prompt_file

    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    start = next(r for r in records if r.get('event') == 'episode_start')
    config = start['config']
    templates = load_prompt_file(config.get('prompt_file', 'codeact.yaml'))
    examples = example_messages(templates.examples[:max(0, config.get('n_examples', 0))],
                                templates.task, templates.observation)
    messages = [{'role': 'system', 'content': start['system_prompt']}, *examples]
    turns = []
    for r in records:
        if r.get('event') != 'turn':
            continue
        messages.append({'role': 'user', 'content': r['prompt']})
        turns.append({'messages': list(messages),
                      'recorded_prompt_tokens': r['llm'].get('prompt_tokens')})
        messages.append({'role': 'assistant', 'content': r['completion']})
    return turns


def select_episodes(root: Path, n_episodes: int) -> tuple[list[list[dict[str, Any]]], int]:
    """Return up to n_episodes rebuilt episodes whose every turn matches its recorded size,
    and how many transcripts were skipped for not matching."""
    from codeact_robot.llm.llama_cpp_backend import LlamaCppBackend

    tokenizer = LlamaCppBackend(context_size=512, n_threads=1, prompt_cache='off')
    chosen, skipped = [], 0
    try:
        for path in _transcripts(root):
            turns = rebuild_turns(path)
            sizes = [len(tokenizer.tokenize_chat(t['messages'])[0]) for t in turns]
            if not turns or sizes != [t['recorded_prompt_tokens'] for t in turns]:
                skipped += 1
                continue
            chosen.append(turns)
            if len(chosen) == n_episodes:
                break
    finally:
        tokenizer.close()
    return chosen, skipped


def worker(spec_file: Path, out_file: Path, lookup: int, threads: int, with_sim: bool,
           sim_rest: bool = True) -> None:
    """Replay the turns with one variant (this process's llama-cpp-python); write the numbers."""
    import llama_cpp

    from codeact_robot.agent.episode import STOP_SEQUENCES
    from codeact_robot.llm.llama_cpp_backend import LlamaCppBackend

    episodes = json.loads(spec_file.read_text())
    stack = None
    if with_sim:
        from codeact_robot.nodes.bringup import start_embedded
        # The robot stands still, as while the model writes inside an episode; sim_rest says
        # whether the simulator may slow its streams at rest (sim_node's rest_when_idle).
        stack = start_embedded(real_time_factor=1.0,
                               sim_params={'rest_when_idle': sim_rest})
    backend = LlamaCppBackend(context_size=8192, n_threads=threads, prompt_cache='off',
                              prompt_lookup=lookup)
    rows = []
    try:
        for e, turns in enumerate(episodes):
            for t, turn in enumerate(turns):
                c = backend.complete(turn['messages'], stop=STOP_SEQUENCES,
                                     max_tokens=MAX_TOKENS, timeout=900)
                rows.append({'episode': e, 'turn': t, 'text': c.text,
                             'prompt_eval_tokens': c.extra.get('prompt_eval_tokens'),
                             'prompt_eval_seconds': c.extra.get('prompt_eval_seconds'),
                             'completion_tokens': c.completion_tokens, 'seconds': c.seconds,
                             'first_token_seconds': c.first_token_seconds,
                             'lookup': {k: v for k, v in c.extra.items()
                                        if k.startswith('lookup_')}})
    finally:
        backend.close()
        if stack is not None:
            stack.close()
    system = llama_cpp.llama_print_system_info()
    out_file.write_text(json.dumps({
        'llama_cpp_version': llama_cpp.__version__, 'llama_cpp_path': llama_cpp.__file__,
        'system_info': system.decode() if isinstance(system, bytes) else str(system),
        'rows': rows}))


def summarize(name: str, data: dict[str, Any], baseline: list[str] | None) -> dict[str, Any]:
    """Return the medians and the identical-reply count of one variant."""
    rows = data['rows']
    prefill = [r['prompt_eval_tokens'] / r['prompt_eval_seconds'] for r in rows
               if r['prompt_eval_tokens'] >= 32 and r['prompt_eval_seconds'] > 0]
    gen = [r['completion_tokens'] / (r['seconds'] - r['prompt_eval_seconds']) for r in rows
           if r['completion_tokens'] >= 8 and r['seconds'] > r['prompt_eval_seconds']]
    texts = [r['text'] for r in rows]
    drafted = sum(r['lookup'].get('lookup_drafted', 0) for r in rows)
    accepted = sum(r['lookup'].get('lookup_accepted', 0) for r in rows)
    return {
        'variant': name, 'turns': len(rows),
        'prompt_tokens_per_s': round(statistics.median(prefill), 1) if prefill else None,
        'generated_tokens_per_s': round(statistics.median(gen), 1) if gen else None,
        'first_token_s': round(statistics.median(r['first_token_seconds'] or 0.0
                                                 for r in rows), 2),
        'seconds_per_turn': round(statistics.median(r['seconds'] for r in rows), 2),
        'total_seconds': round(sum(r['seconds'] for r in rows), 1),
        'identical_to_first': (None if baseline is None else
                               sum(a == b for a, b in zip(texts, baseline, strict=True))),
        'lookup_accepted': f'{accepted}/{drafted}' if drafted else '-',
        'llama_cpp': data['llama_cpp_version'], 'system_info': data['system_info'],
    }


def cpu_description() -> str:
    """Return the CPU model and the instruction sets that matter for llama.cpp."""
    model, flags = platform.processor() or 'unknown', set()
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name') and model in ('unknown', 'x86_64', ''):
                model = line.split(':', 1)[1].strip()
            if line.startswith('flags'):
                flags = set(line.split(':', 1)[1].split())
                break
    except OSError:
        pass
    wanted = sorted(f for f in flags if f.startswith(('avx512', 'amx')) or f in ('avx2', 'fma'))
    return f'{model}, {os.cpu_count()} cores; {" ".join(wanted)}'


def markdown(data: dict[str, Any]) -> str:
    """Render the results as the bench/results/llm.md page."""
    lines = [
        '# Embedded model on recorded agent turns', '',
        f'{data["date"]} · {data["cpu"]} · commit {data["commit"]} · '
        f'{data["episodes"]} episodes, {data["turns"]} turns '
        f'({data["skipped_transcripts"]} transcripts skipped: rebuild did not match) · '
        f'simulator beside the model: {"yes" if data["with_sim"] else "no"}', '',
        f'Command: `{data["command"]}`', '',
        '| variant | prompt tok/s | generated tok/s | first token s | s/turn | total s | '
        'identical replies | guesses taken |',
        '|---|---|---|---|---|---|---|---|',
    ]
    for v in data['variants']:
        same = '-' if v['identical_to_first'] is None else \
            f'{v["identical_to_first"]}/{v["turns"]}'
        lines.append(f'| {v["variant"]} | {v["prompt_tokens_per_s"]} | '
                     f'{v["generated_tokens_per_s"]} | {v["first_token_s"]} | '
                     f'{v["seconds_per_turn"]} | {v["total_seconds"]} | {same} | '
                     f'{v["lookup_accepted"]} |')
    lines += ['', 'llama.cpp builds:', '']
    lines += [f'- {v["variant"]}: llama-cpp-python {v["llama_cpp"]}: `{v["system_info"]}`'
              for v in data['variants']]
    return '\n'.join(lines) + '\n'


def main(argv: list[str] | None = None) -> int:
    """Replay recorded turns with every variant; write bench/results/llm.{json,md}."""
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--episodes', type=int, default=6, help='recorded episodes to replay (6)')
    p.add_argument('--transcripts', type=Path, default=EPISODES,
                   help='folder of CodeAct episodes (seed*/task/*.jsonl)')
    p.add_argument('--build', action='append', default=[], metavar='NAME=DIR',
                   help='another llama-cpp-python, installed with pip --target DIR')
    p.add_argument('--lookup', type=int, nargs='+', default=[0, 8],
                   help='prompt-lookup draft lengths to compare (0 = off) (0 8)')
    p.add_argument('--threads', type=int, nargs='+', default=[2],
                   help='llama.cpp thread counts to compare (2)')
    p.add_argument('--with-sim', action='store_true',
                   help='run the simulator and skills node beside the model')
    p.add_argument('--sim-rest', nargs='+', choices=('on', 'off'), default=['on'],
                   help='with --with-sim: simulator rest mode(s) to compare (on)')
    p.add_argument('--out', type=Path, default=RESULTS)
    p.add_argument('--worker', nargs=2, type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        worker(args.worker[0], args.worker[1], args.lookup[0], args.threads[0], args.with_sim,
               args.sim_rest[0] == 'on')
        return 0
    episodes, skipped = select_episodes(args.transcripts, args.episodes)
    if not episodes:
        raise SystemExit(f'no transcript in {args.transcripts} could be rebuilt')
    builds = [('installed', None)] + [tuple(b.split('=', 1)) for b in args.build]
    variants = []
    baseline = None
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / 'turns.json'
        spec.write_text(json.dumps(episodes))
        rests = args.sim_rest if args.with_sim else ['on']
        matrix = [(b, f, lk, th, r) for b, f in builds for lk in args.lookup
                  for th in args.threads for r in rests]
        for build, folder, lookup, threads, rest in matrix:
            name = f'{build}, lookup {lookup or "off"}, {threads} threads'
            if args.with_sim:
                name += f', sim rest {rest}'
            out = Path(tmp) / f'{len(variants)}.json'
            env = dict(os.environ)
            if folder:
                env['PYTHONPATH'] = os.pathsep.join(filter(None, [folder,
                                                                  env.get('PYTHONPATH')]))
            cmd = [sys.executable, '-m', 'bench.bench_llm', '--worker', str(spec), str(out),
                   '--lookup', str(lookup), '--threads', str(threads), '--sim-rest', rest] + (
                       ['--with-sim'] if args.with_sim else [])
            print(f'--- {name}', flush=True)
            start = time.monotonic()
            subprocess.run(cmd, check=True, cwd=HERE.parent, env=env)
            data = json.loads(out.read_text())
            summary = summarize(name, data, baseline)
            if baseline is None:
                baseline = [r['text'] for r in data['rows']]
            print(f'{summary} ({time.monotonic() - start:.0f} s)', flush=True)
            variants.append(summary)
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True,
                            text=True, cwd=HERE.parent).stdout.strip()
    data = {'date': datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
            'cpu': cpu_description(), 'commit': commit, 'with_sim': args.with_sim,
            'episodes': len(episodes), 'turns': sum(len(e) for e in episodes),
            'skipped_transcripts': skipped,
            'command': 'python -m bench.bench_llm ' + ' '.join(argv if argv is not None
                                                              else sys.argv[1:]),
            'variants': variants}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / 'llm.json').write_text(json.dumps(data, indent=1) + '\n')
    (args.out / 'llm.md').write_text(markdown(data))
    print(markdown(data))
    return 0


if __name__ == '__main__':
    sys.exit(main())
