"""The API's error vocabulary: one name per error, as both agent modes report it to the model."""

from __future__ import annotations

from codeact_robot.api.errors import (
    API_ERRORS,
    EStopActiveError,
    GraspError,
    RobotApiError,
    error_name,
)


class _SiteGraspError(GraspError):
    """A subclass outside the contract (e.g. a site's own gripper error)."""


def test_contract_errors_are_named_by_their_class():
    for cls in API_ERRORS:
        assert error_name(cls('x')) == cls.__name__


def test_other_errors_map_to_their_nearest_contract_class():
    assert error_name(_SiteGraspError('x')) == 'GraspError'
    assert error_name(EStopActiveError('x')) == 'EStopActiveError'
    assert error_name(ValueError('x')) == 'RobotApiError'
    assert issubclass(EStopActiveError, RobotApiError)
