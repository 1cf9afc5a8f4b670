"""Transcripts are bounded: a huge record is cut, a flooding episode stops growing the file."""

from __future__ import annotations

from codeact_robot.agent.transcript import Transcript, read_transcript


def test_a_record_over_the_limit_keeps_its_small_fields_and_names_the_cut_ones(tmp_path):
    transcript = Transcript(tmp_path, 'flood', max_record_chars=10_000)
    transcript.write('turn', turn=1, code='say("x")', observation='x' * 50_000)
    transcript.close()
    (record,) = read_transcript(transcript.path)
    assert record['turn'] == 1 and record['code'] == 'say("x")'
    assert record['cut_fields'] == {'observation': 50_002}
    assert len(record['observation']) < 2_100 and record['observation'].endswith('in all]')


def test_an_episode_over_its_budget_writes_only_its_end(tmp_path):
    transcript = Transcript(tmp_path, 'flood', max_record_chars=5_000, max_episode_chars=20_000)
    for turn in range(50):
        transcript.write('turn', turn=turn, observation='y' * 4_000)
    transcript.write('episode_end', success=False, turns=50)
    transcript.close()
    records = read_transcript(transcript.path)
    events = [r['event'] for r in records]
    assert events[-2:] == ['transcript_budget_reached', 'episode_end']
    assert events.count('turn') == 4 and records[-1]['turns'] == 50
    assert transcript.path.stat().st_size < 20_000 + 1_000
