"""Ordinary model code must run in the sandbox: the restrictions may not reject good work.

Each snippet is the kind of code a model writes against the robot API (error reporting, small
result classes, f-strings, comprehensions, sorting, math and statistics); every one must end
with status ``ok`` and print exactly what plain Python prints. A rule that starts rejecting one
of them is a false rejection, whatever attack it was meant to stop.
"""

from __future__ import annotations

import pytest
from executor_doubles import RecordingRobotApiDouble

from codeact_robot.executor import ExecStatus, ExecutionLimits, Executor

CORPUS: dict[str, tuple[str, str]] = {
    'error_type_name': (
        'try:\n    move_to(float("nan"), 0.0)\nexcept Exception as e:\n'
        '    print(type(e).__name__)',
        'InvalidArgumentError\n'),
    'error_class_name': (
        'try:\n    int("x")\nexcept ValueError as e:\n    print(e.__class__.__name__, e)',
        "ValueError invalid literal for int() with base 10: 'x'\n"),
    'error_qualname_in_fstring': (
        'try:\n    {}["k"]\nexcept KeyError as e:\n    print(f"{type(e).__qualname__}: {e}")',
        "KeyError: 'k'\n"),
    'function_name_and_doc': (
        'def go():\n    """Drive."""\nprint(go.__name__, go.__doc__, get_pose.__name__)',
        'go Drive. get_pose\n'),
    'dataclass_result': (
        'from dataclasses import dataclass, field\n@dataclass(frozen=True)\nclass Leg:\n'
        '    place: str\n    metres: float = 0.0\n    notes: list = field(default_factory=list)\n'
        'print(Leg("dock", 2.5), Leg("a") == Leg("a"))',
        "Leg(place='dock', metres=2.5, notes=[]) True\n"),
    'dataclass_inheritance_and_asdict': (
        'import dataclasses\n@dataclasses.dataclass\nclass A:\n    x: int = 0\n'
        '@dataclasses.dataclass(order=True)\nclass B(A):\n    y: int = 1\n'
        'print(dataclasses.asdict(B(2)), B(1, 2) < B(1, 3), dataclasses.replace(B(), y=5))',
        "{'x': 2, 'y': 1} True B(x=0, y=5)\n"),
    'class_with_super_init_and_repr': (
        'class Base:\n    def __init__(self, name):\n        self.name = name\n'
        'class Box(Base):\n    def __init__(self, name, colour):\n'
        '        super().__init__(name)\n        self.colour = colour\n'
        '    def __repr__(self):\n        return f"{type(self).__name__}({self.name!r}, '
        '{self.colour})"\nprint(Box("b1", "red"))',
        "Box('b1', red)\n"),
    'namedtuple_results': (
        'from collections import namedtuple\nfrom typing import NamedTuple\n'
        'P = namedtuple("P", "x y")\nclass Q(NamedTuple):\n    a: int\n    b: str = "z"\n'
        'print(P(1, 2), Q(3), P(1, 2)._asdict())',
        "P(x=1, y=2) Q(a=3, b='z') {'x': 1, 'y': 2}\n"),
    'fstrings_and_format_specs': (
        'p = get_pose()\nx = 3.14159\n'
        'print(f"{x:.2f} {x!r:>10} {p.x:+.1f} {42:05d} {\'ok\':^6}|")\n'
        'print("{:.1f} m".format(2.25), "%s-%d" % ("a", 3))',
        '3.14    3.14159 +0.0 00042   ok  |\n2.2 m a-3\n'),
    'comprehension_scoping': (
        'k = 10\nsquares = [k * k for k in range(4)]\nprint(k, squares, {v: v % 2 for v in '
        'range(3)}, sum(i for i in range(5)), {c for c in "aab"} == {"a", "b"})',
        '10 [0, 1, 4, 9] {0: 0, 1: 1, 2: 0} 10 True\n'),
    'closure_in_comprehension': (
        'scale = 2\nprint([(lambda v: v * scale)(i) for i in range(3)])',
        '[0, 2, 4]\n'),
    'sorted_with_key': (
        'places = {"dock": (0, 0), "shelf": (3, 4), "bay": (1, 1)}\np = get_pose()\n'
        'import math\nby_distance = sorted(places, key=lambda n: math.dist(places[n], '
        '(p.x, p.y)))\nprint(by_distance, max(places, key=len), min([3, 1, 2]))',
        "['dock', 'bay', 'shelf'] shelf 1\n"),
    'math_and_statistics': (
        'import math, statistics\nd = [0.2, 0.4, 0.3]\n'
        'print(round(math.hypot(3, 4), 1), math.degrees(math.atan2(1, 1)), '
        'statistics.mean(d), round(statistics.stdev(d), 3), statistics.median(d))',
        '5.0 45.0 0.3 0.1 0.3\n'),
    'numpy_geometry': (
        'import numpy as np\npts = np.array([[0.0, 0.0], [3.0, 4.0]])\n'
        'print(float(np.linalg.norm(pts[1] - pts[0])), pts.mean(axis=0).tolist())',
        '5.0 [1.5, 2.0]\n'),
    'loop_with_api_calls_and_retry': (
        'ok = []\nfor target in [(1.0, 0.0), (2.0, 0.0)]:\n    for attempt in range(2):\n'
        '        r = move_to(*target)\n        if r.arrived:\n            ok.append(target)\n'
        '            break\nprint(len(ok), r.status)',
        '2 arrived\n'),
    'exceptions_raised_and_caught': (
        'class TaskError(Exception):\n    pass\ntry:\n    raise TaskError("shelf empty")\n'
        'except TaskError as e:\n    print("caught", e, isinstance(e, Exception))',
        'caught shelf empty True\n'),
    'generators_and_itertools': (
        'import itertools\ndef legs(n):\n    for i in range(n):\n        yield i\n'
        'print(list(itertools.islice(legs(10), 3)), list(itertools.pairwise("abc")))',
        "[0, 1, 2] [('a', 'b'), ('b', 'c')]\n"),
    'isinstance_and_type_checks': (
        'print(isinstance(3, int), type(2.0) is float, isinstance(int, type), '
        'type(get_pose()).__name__)',
        'True True True Pose\n'),
    'json_and_regex': (
        'import json, re\nprint(json.dumps({"a": [1, 2]}), re.findall(r"\\d+", "aisle 2, 3"))',
        '{"a": [1, 2]} [\'2\', \'3\']\n'),
    'getattr_on_results': (
        'p = get_pose()\nprint(getattr(p, "theta", None) is not None, hasattr(p, "nope"))',
        'True False\n'),
    'functools_and_heapq': (
        'import functools, heapq\n@functools.lru_cache(maxsize=None)\ndef f(n):\n'
        '    return n if n < 2 else f(n - 1) + f(n - 2)\n'
        'print(f(20), heapq.nsmallest(2, [5, 1, 3]))',
        '6765 [1, 3]\n'),
}


@pytest.fixture(scope='module')
def executor():
    with Executor(api=RecordingRobotApiDouble(),
                  limits=ExecutionLimits(call_timeout_s=10.0)) as ex:
        yield ex


@pytest.mark.parametrize('name', list(CORPUS))
def test_ordinary_model_code_runs(executor, name):
    code, expected = CORPUS[name]
    result = executor.run(code)
    assert result.status == ExecStatus.OK, result.to_observation()
    assert result.stdout == expected
