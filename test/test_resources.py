"""Shipped files are found from the source tree, with or without an ament environment."""

import pytest

from codeact_robot.resources import ResourceNotFoundError, share_path


@pytest.mark.parametrize('ament', ['unset', 'empty-prefix'])
def test_share_path_finds_shipped_files(monkeypatch, tmp_path, ament):
    if ament == 'unset':
        monkeypatch.delenv('AMENT_PREFIX_PATH', raising=False)
    else:
        monkeypatch.setenv('AMENT_PREFIX_PATH', str(tmp_path))
    assert share_path('config', 'agent.yaml').is_file()
    assert share_path('sim', 'worlds', 'warehouse.yaml').is_file()
    with pytest.raises(ResourceNotFoundError, match='nope.yaml not found'):
        share_path('config', 'nope.yaml')
