"""`codeact-robot run` as a user runs it: embedded simulator, agent, live output, exit status,
transcript and path plot. Scripted completions (replay backend) stand in for the model."""

import json
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def run_cli(tmp_path, completions, command='where are you?', *extra, real_time_factor=2.0):
    script = tmp_path / 'script.yaml'
    blocks = []
    for code in completions:
        body = ''.join(f'  {line}\n' for line in code.splitlines())
        blocks.append(f'- |\n  ```python\n{body}  ```\n')
    script.write_text(''.join(blocks))
    return subprocess.run(
        [sys.executable, '-m', 'codeact_robot.cli', 'run', command, '--replay', str(script),
         '--runs-dir', str(tmp_path / 'runs'), '--real-time-factor', str(real_time_factor),
         *extra],
        capture_output=True, text=True, timeout=240)


def test_run_exits_zero_after_done_and_leaves_transcript_and_plot(tmp_path):
    out = run_cli(tmp_path, ["p = get_pose()\nprint(f'x={p.x:.1f}')\nmove(0.5)",
                             "done('moved half a metre')"])
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert 'turn 1: code' in out.stdout and 'x=1.2' in out.stdout  # live turns
    # The reply streamed before its code was run.
    assert -1 < out.stdout.find('move(0.5)') < out.stdout.find('turn 1: code'), out.stdout
    assert 'DONE after 2 turn(s): moved half a metre' in out.stdout
    transcripts = list((tmp_path / 'runs').glob('*.jsonl'))
    plots = list((tmp_path / 'runs').glob('*.path.png'))
    assert len(transcripts) == 1 and len(plots) == 1
    assert plots[0].stat().st_size > 10_000
    # The transcript ends with the episode's safety events by kind: none for this drive.
    last = json.loads(transcripts[0].read_text().splitlines()[-1])
    assert last['event'] == 'safety_events' and last['by_kind'] == {}, last


def test_run_exits_non_zero_when_the_model_fails_the_task(tmp_path):
    out = run_cli(tmp_path, ["fail('I cannot lift a forklift')"], 'lift the forklift')
    assert out.returncode == 1, out.stdout[-3000:] + out.stderr[-3000:]
    assert 'NOT DONE' in out.stdout and 'I cannot lift a forklift' in out.stdout


def test_plot_marks_the_aisle_the_robot_found_blocked(tmp_path):
    import cv2
    import numpy as np

    from codeact_robot.path_plot import BLOCKED_COLOUR

    out = run_cli(tmp_path, ['r = go_to("packing station")\nprint(r.message)',
                             "done('reported the blocked aisle')"],
                  'go to the packing station', '--scenario', 'blocked_aisle_2_at_start',
                  real_time_factor=3.0)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    # What the plot needs is an aisle found blocked on the way (going round it is
    # test_end_to_end's subject): a stop on the way round still marks it.
    assert 'found aisle 2 blocked and went round' in out.stdout or \
        'while going round blocked aisle 2' in out.stdout, out.stdout[-3000:]
    plot = next((tmp_path / 'runs').glob('*.path.png'))
    hexa = BLOCKED_COLOUR.lstrip('#')
    bgr = tuple(int(hexa[i:i + 2], 16) for i in (4, 2, 0))
    image = cv2.imread(str(plot)).astype(int)
    assert np.all(np.abs(image - bgr) < 25, axis=2).sum() > 1000
