"""The attack corpus in test/security/corpus run as a new user would: `codeact-robot exec`.

Each file's first line says the expected status(es) (``# expect: timeout``); the offline robot
double (``--robot double``) keeps the runs fast. Exit status is 0 only for ``ok``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

CORPUS = sorted((Path(__file__).parent / 'security' / 'corpus').glob('*.py'))
PWNED = Path('/tmp/codeact_corpus_pwned')


@pytest.mark.parametrize('path', CORPUS, ids=[p.stem for p in CORPUS])
def test_corpus_file_through_codeact_robot_exec(path):
    expect = path.read_text().splitlines()[0].removeprefix('# expect:').split()
    done = subprocess.run(
        [sys.executable, '-m', 'codeact_robot.cli', 'exec', str(path), '--robot', 'double',
         '--timeout', '2'], capture_output=True, text=True, timeout=60)
    result = json.loads(done.stdout)
    print(path.name, result['status'], done.stderr.strip()[-200:])
    assert result['status'] in expect
    assert (done.returncode == 0) == (result['status'] == 'ok')
    assert not PWNED.exists()
    if result['status'] in ('timeout', 'killed', 'violation', 'crashed'):
        assert result['robot_stopped'] is True
