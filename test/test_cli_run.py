"""`codeact-robot run` as a user runs it: embedded simulator, agent, live output, exit status,
transcript and path plot. Scripted completions (replay backend) stand in for the model."""

import subprocess
import sys

import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def run_cli(tmp_path, completions, command='where are you?'):
    script = tmp_path / 'script.yaml'
    blocks = []
    for code in completions:
        body = ''.join(f'  {line}\n' for line in code.splitlines())
        blocks.append(f'- |\n  ```python\n{body}  ```\n')
    script.write_text(''.join(blocks))
    return subprocess.run(
        [sys.executable, '-m', 'codeact_robot.cli', 'run', command, '--replay', str(script),
         '--runs-dir', str(tmp_path / 'runs'), '--real-time-factor', '2'],
        capture_output=True, text=True, timeout=240)


def test_run_exits_zero_after_done_and_leaves_transcript_and_plot(tmp_path):
    out = run_cli(tmp_path, ["p = get_pose()\nprint(f'x={p.x:.1f}')\nmove(0.5)",
                             "done('moved half a metre')"])
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert 'turn 1: code' in out.stdout and 'x=1.2' in out.stdout  # live turns
    assert 'DONE after 2 turn(s): moved half a metre' in out.stdout
    transcripts = list((tmp_path / 'runs').glob('*.jsonl'))
    plots = list((tmp_path / 'runs').glob('*.path.png'))
    assert len(transcripts) == 1 and len(plots) == 1
    assert plots[0].stat().st_size > 10_000


def test_run_exits_non_zero_when_the_model_fails_the_task(tmp_path):
    out = run_cli(tmp_path, ["fail('I cannot lift a forklift')"], 'lift the forklift')
    assert out.returncode == 1, out.stdout[-3000:] + out.stderr[-3000:]
    assert 'NOT DONE' in out.stdout and 'I cannot lift a forklift' in out.stdout
