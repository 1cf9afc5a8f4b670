"""End-to-end task time: a plain-language command on the embedded simulator, start to done().

    python -m bench.bench_end_to_end                       # scripted completions (replay)
    python -m bench.bench_end_to_end --backend llama_cpp   # the embedded 1.5B model too

Writes bench/results/end_to_end.{json,md}: per episode the outcome, turns, wall time, and per
turn the model time (first token = prompt processing, showing the KV-cache reuse) and the time
the code ran on the robot.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

from codeact_robot.agent.transcript import read_transcript
from codeact_robot.ros_env import localhost_only
from codeact_robot.session import RobotSession, SessionOptions

RESULTS = Path(__file__).resolve().parent / 'results'
COMMAND = 'bring the red box to the packing station'
SCRIPT = """\
- |
  ```python
  r = go_to('shelf B')
  print(r.status)
  ```
- |
  ```python
  grasp('red')
  r = go_to('packing station')
  release()
  done('the red box is at the packing station') if r.arrived else fail(r.message)
  ```
"""


def run_episode(backend: str, runs_dir: Path, generation_timeout: float) -> dict:
    """Run COMMAND once with ``backend`` and return its measurements."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    script = runs_dir / 'script.yaml'
    script.write_text(SCRIPT)
    options = SessionOptions(backend=backend, replay=script if backend == 'replay' else None,
                             runs_dir=runs_dir, generation_timeout=generation_timeout,
                             max_episode_seconds=1800.0)
    start = time.monotonic()
    with RobotSession(options) as session:
        ready = time.monotonic() - start
        outcome = session.run(COMMAND)
    turns = []
    for record in read_transcript(outcome.transcript):
        if record['event'] != 'turn':
            continue
        llm = record.get('llm') or {}
        turns.append({'turn': record['turn'],
                      'model_s': llm.get('seconds'),
                      'first_token_s': llm.get('first_token_seconds'),
                      'prompt_tokens': llm.get('prompt_tokens'),
                      'cached_tokens': llm.get('cached_tokens'),
                      'completion_tokens': llm.get('completion_tokens'),
                      'execution_s': record.get('execution_seconds')})
    return {'backend': backend, 'success': outcome.success, 'turns': outcome.turns,
            'failure_reason': outcome.failure_reason, 'startup_s': round(ready, 2),
            'task_s': round(time.monotonic() - start - ready, 2), 'per_turn': turns,
            'transcript': str(outcome.transcript)}


def _fmt(value: object) -> str:
    return '-' if value is None else (f'{value:.2f}' if isinstance(value, float) else str(value))


def main() -> int:
    """Run the episodes and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--backend', nargs='+', default=['replay'],
                        choices=['replay', 'llama_cpp', 'ollama', 'openai'])
    parser.add_argument('--generation-timeout', type=float, default=900.0)
    args = parser.parse_args()
    localhost_only()
    os.environ.setdefault('MUJOCO_GL', 'egl')
    episodes = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backend:
            episodes.append(run_episode(backend, Path(tmp) / backend, args.generation_timeout))
    load = os.getloadavg()
    report = {'command': COMMAND, 'machine': f'{platform.machine()}, {os.cpu_count()} cores',
              'load_average_after': load, 'episodes': episodes}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / 'end_to_end.json').write_text(json.dumps(report, indent=2))
    lines = [f'# End-to-end task time: "{COMMAND}"', '',
             f'Embedded simulator at real-time factor 1, {report["machine"]}, load average '
             f'after the run {load[0]:.1f}. `python -m bench.bench_end_to_end --backend ...`', '',
             '| backend | done | turns | startup s | task s |', '|---|---|---|---|---|']
    lines += [f'| {e["backend"]} | {e["success"]} | {e["turns"]} | {e["startup_s"]} | '
              f'{e["task_s"]} |' for e in episodes]
    for e in episodes:
        lines += ['', f'## {e["backend"]}: per turn', '',
                  '| turn | model s | first token s | prompt tokens | cached | new tokens | '
                  'code ran s |', '|---|---|---|---|---|---|---|']
        lines += ['| ' + ' | '.join(_fmt(t[k]) for k in (
            'turn', 'model_s', 'first_token_s', 'prompt_tokens', 'cached_tokens',
            'completion_tokens', 'execution_s')) + ' |' for t in e['per_turn']]
        if not e['success']:
            lines += ['', f'Not done: {e["failure_reason"]}']
    (RESULTS / 'end_to_end.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
