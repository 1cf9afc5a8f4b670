"""The shared parameter descriptor: ranges follow the default's type."""

from codeact_robot.nodes.parameters import describe


def test_float_default_gets_a_floating_point_range():
    d = describe('Cruise speed (m/s)', 0.35, (0.05, 2.0))
    assert d.description == 'Cruise speed (m/s)'
    assert not d.read_only
    assert [(r.from_value, r.to_value) for r in d.floating_point_range] == [(0.05, 2.0)]
    assert not d.integer_range


def test_int_default_gets_an_integer_range_with_unit_step():
    d = describe('Most turns', 8, (1, 100), read_only=True)
    assert d.read_only
    assert [(r.from_value, r.to_value, r.step) for r in d.integer_range] == [(1, 100, 1)]
    assert not d.floating_point_range


def test_bool_string_and_unbounded_parameters_get_no_range():
    for default, bounds in ((True, (0, 1)), ('warehouse', None), (0.5, None)):
        d = describe('x', default, bounds)
        assert not d.floating_point_range and not d.integer_range
