"""Security suite of the watchdog executor, by attack category, each with a positive control.

Every attack must be denied (``rejected``, or an exception inside the sandbox) or killed
(``timeout``/``killed``/``violation``); the host survives, nothing appears outside the sandbox,
no process is left behind, and the robot is stopped whenever the child is killed. The first
part runs with the full Python layer (what the model gets); the ``OS_ATTACKS`` part disables the
Python layer (``python_layer=False``) to prove the OS layers hold on their own.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from executor_doubles import RecordingRobotApiDouble

from codeact_robot.executor import ExecStatus, ExecutionLimits, Executor

SENTINEL = Path(tempfile.gettempdir()) / f'codeact_pwned_{os.getpid()}'
SECRET_NAME = 'CODEACT_TEST_SECRET_TOKEN'
KILLED = {'timeout', 'killed', 'violation', 'crashed'}
DENIED = {'rejected', 'error'}
LIMITS = ExecutionLimits(call_timeout_s=5.0, memory_mb=768, cpu_time_s=60, max_file_mb=4,
                         max_open_files=32, max_output_chars=2000, warm_pool=True)


@dataclass(frozen=True)
class Attack:
    name: str
    code: str
    expect: frozenset[str]
    control: str = 'print(isinstance(get_pose().x, float))'
    control_out: str = 'True\n'
    timeout: float = 1.0
    exc: str | None = None  # expected exception type inside the sandbox, when it matters


def attack(name: str, code: str, expect: set[str], control: str | None = None,
           control_out: str | None = None, timeout: float = 1.0,
           exc: str | None = None) -> Attack:
    return Attack(name, code.replace('SENTINEL', repr(str(SENTINEL))), frozenset(expect),
                  control or Attack.control, control_out or Attack.control_out, timeout, exc)


DATACLASS_CONTROL = ('from dataclasses import dataclass, field\n@dataclass\nclass P:\n'
                     '    x: float\n    tags: list = field(default_factory=list)\nprint(P(1.0))')

ATTACKS: dict[str, list[Attack]] = {
    'forbidden_imports': [
        attack('import_os', 'import os\nos.system("touch SENTINEL")', {'rejected'},
               'import math\nprint(math.floor(1.5))', '1\n'),
        attack('from_os_import', 'from os import system', {'rejected'},
               'from math import floor\nprint(floor(2.5))', '2\n'),
        attack('import_subprocess', 'import subprocess', {'rejected'}),
        attack('import_importlib', 'import importlib', {'rejected'}),
        attack('dunder_import', "__import__('os')", {'rejected'}),
        attack('relative_import', 'from . import x', {'rejected'}),
        attack('numpy_ctypeslib_module', 'import numpy.ctypeslib', {'error'},
               'import numpy.linalg\nprint(numpy.linalg.norm([3, 4]))', '5.0\n'),
        attack('from_numpy_ctypeslib', 'from numpy import ctypeslib', {'rejected'},
               'from numpy import linalg\nprint(linalg.norm([6, 8]))', '10.0\n'),
        attack('typing_sys', 'import typing\nprint(typing.sys)', {'error'},
               'import typing\nprint(typing.Optional[int] is not None)', 'True\n'),
        attack('random_private_os', 'import random\nrandom._os.system("id")', {'rejected'},
               'import random\nrandom.seed(1)\nprint(random.randint(1, 1))', '1\n'),
        attack('dataclasses_sys_getattr', "import dataclasses\ngetattr(dataclasses, 'sys')",
               {'error'}),
        attack('collections_abc_sys', 'import collections\nprint(collections.abc.sys)',
               {'error'}, 'import collections\nprint(collections.Counter("aab")["a"])', '2\n'),
        attack('statistics_sys', 'import statistics\nstatistics.sys.exit()', {'error'},
               'import statistics\nprint(statistics.mean([1, 3]))', '2\n'),
        attack('re_enum_module', 'import re\nprint(re.enum)', {'error'},
               'import re\nprint(re.sub("a", "b", "aa"))', 'bb\n'),
        attack('numpy_lib_npyio', 'import numpy as np\nprint(np.lib.npyio)', {'error'},
               'import numpy as np\nprint(int(np.arange(4).sum()))', '6\n'),
        attack('json_codecs_module', 'import json\nprint(json.codecs)', {'error'},
               'import json\nprint(json.loads("[1]")[0])', '1\n'),
    ],
    'introspection': [
        attack('subclasses', '().__class__.__bases__[0].__subclasses__()', {'rejected'},
               'print(isinstance((), tuple))', 'True\n'),
        attack('getattr_dunder', "getattr((), '__class__')", {'error'},
               "print(getattr(get_pose(), 'theta') is not None)", 'True\n'),
        attack('getattr_built_name', "getattr(get_pose, '__glo' + 'bals__')", {'error'}),
        attack('api_function_globals', 'get_pose.__globals__', {'rejected'}),
        attack('generator_frame', 'g = (i for i in [1])\nprint(g.gi_frame.f_globals)',
               {'rejected'}, 'g = (i for i in [1, 2])\nprint(sum(g))', '3\n'),
        attack('generator_frame_getattr', "g = (i for i in [1])\ngetattr(g, 'gi_frame')",
               {'error'}),
        attack('traceback_frame',
               'try:\n    1 / 0\nexcept Exception as e:\n    e.__traceback__.tb_frame',
               {'rejected'},
               'try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    print(e)',
               'division by zero\n'),
        attack('traceback_getattr',
               "try:\n    1 / 0\nexcept Exception as e:\n    getattr(e, '__traceback__')",
               {'error'}),
        attack('format_attribute', "print('{0.__class__.__mro__}'.format(1))", {'rejected'},
               "print('{:.2f}'.format(1.5))", '1.50\n'),
        attack('format_on_variable', "fmt = '{0.__class__}'\nprint(fmt.format(1))",
               {'rejected'}, "x = 2\nprint(f'{x:03d}')", '002\n'),
        attack('format_via_getattr', "getattr('{0.__class__}', 'format')(1)", {'error'}),
        attack('format_nested_spec', "print('{0:{1.__class__}}'.format(1, 2))", {'rejected'}),
        attack('str_format_unbound', "list(map(str.format, ['{0.__class__}'], [1]))",
               {'rejected'}),
        attack('match_class_dunder',
               'match get_pose:\n    case object(__globals__=g):\n        print(g)',
               {'rejected'},
               'match get_pose():\n    case p if p.x == 0.0:\n        print("origin")',
               'origin\n'),
        attack('mro', 'print(type(1).mro())', {'rejected'}),
        # The harmless special reads (type(e).__name__) are allowed; the class itself is not.
        attack('class_alone', 'print((1).__class__)', {'rejected'},
               'try:\n    1 / 0\nexcept Exception as e:\n'
               '    print(type(e).__name__, e.__class__.__name__)',
               'ZeroDivisionError ZeroDivisionError\n'),
        attack('class_then_bases', 'print((1).__class__.__bases__)', {'rejected'}),
        attack('class_of_class', 'print((1).__class__.__class__.__name__)', {'rejected'}),
        attack('class_kept_in_a_name', 'c = (1).__class__\nprint(c.__name__)', {'rejected'}),
        attack('name_written', "def f():\n    pass\nf.__name__ = 'g'", {'rejected'}),
        attack('super_other_special', 'class A:\n    def f(self):\n'
               "        return super().__getattribute__('x')", {'rejected'},
               'class A:\n    def __init__(self):\n        self.v = 1\nclass B(A):\n'
               '    def __init__(self):\n        super().__init__()\nprint(B().v)', '1\n'),
        attack('super_init_globals', 'class A:\n    def f(self):\n'
               '        return super().__init__.__globals__', {'rejected'}),
        attack('name_via_getattr', "print(getattr(print, '__name__'))", {'error'}),
        attack('vars_dir_locals', 'print(vars(get_pose), dir(), locals(), globals())',
               {'rejected'}),
        attack('ndarray_ctypes', 'import numpy as np\nnp.zeros(1).ctypes', {'rejected'}),
        attack('class_dict', 'class A:\n    pass\nprint(A.__dict__)', {'rejected'},
               'class A:\n    x = 1\nprint(A().x)', '1\n'),
        attack('record_private_fields', 'p = get_pose()\nprint(p._f)', {'rejected'}),
        attack('module_proxy_private', "import math\ngetattr(math, '_m')", {'error'}),
        attack('annotation_eval_singledispatch',
               'import functools\n@functools.singledispatch\ndef f(x):\n    pass\n'
               "@f.register\ndef g(x: '().__class__'):\n    pass", {'rejected'}),
        attack('annotation_eval_getattr',
               "import functools\nsd = getattr(functools, 'singledispatch')", {'error'},
               'import functools\nprint(functools.reduce(lambda a, b: a + b, [1, 2, 3]))',
               '6\n'),
        attack('ndarray_dump', "import numpy as np\nnp.zeros(2).dump(SENTINEL)", {'rejected'}),
    ],
    'builtins': [
        attack('eval', "eval('1 + 1')", {'rejected'}, 'print(1 + 1)', '2\n'),
        attack('exec', "exec('x = 1')", {'rejected'}),
        attack('compile', "compile('1', 'a', 'eval')", {'rejected'}),
        attack('open', "open('/etc/passwd').read()", {'rejected'}),
        attack('builtins_name', "__builtins__['open']", {'rejected'}),
        attack('alias_eval', 'e = eval', {'rejected'}),
        attack('breakpoint_help_exit_input', 'breakpoint()\nhelp(1)\nexit()\ninput()',
               {'rejected'}),
        attack('print_self', 'print.__self__', {'rejected'}),
        attack('print_self_getattr', "getattr(print, '__self__')", {'error'}),
        attack('setattr_api', "setattr(get_pose, 'x', 1)", {'rejected'}),
        attack('memoryview', "memoryview(b'abc')", {'rejected'}),
        attack('raise_system_exit', 'raise SystemExit(3)', {'error'}),
    ],
    'api_tampering': [
        attack('emergency_stop_not_exposed', "emergency_stop('pwned')", {'error'}),
        attack('replace_api_function_code', 'get_pose.__code__ = None', {'rejected'}),
        attack('module_attribute_write', 'import math\nmath.pi = 3', {'error'},
               'import math\nprint(round(math.pi, 2))', '3.14\n'),
        attack('record_write', 'p = get_pose()\np.x = 100.0', {'error'}),
        attack('resource_limits', 'import resource', {'rejected'}),
        attack('nan_argument', "move_to(float('nan'), 0.0)", {'error'},
               'print(move_to(1.0, 0.0).arrived)', 'True\n'),
        attack('non_plain_argument', 'class S(str):\n    pass\nsay(S("hi"))', {'error'},
               "say('hi')\nprint('said')", 'said\n'),
        attack('huge_argument', "say('x' * 6_000_000)", {'error'}, exc='ValueError'),
        attack('huge_exception_message', "raise ValueError('x' * 10_000_000)", {'error'},
               'try:\n    raise ValueError("short")\nexcept ValueError as e:\n    print(e)',
               'short\n'),
        attack('deep_argument', 'x = []\nfor _ in range(100):\n    x = [x]\nsay(str(1), x)',
               {'error'}),
        # Host-side conversions of arguments answer the model; they never raise in the host.
        attack('int_too_large_for_float', 'move_to(10 ** 400, 0.0)', {'error'},
               'print(move_to(1.0, 0.0).arrived)', 'True\n', exc='ValueError'),
        attack('int_too_long_to_send', 'move_to(10 ** 5000, 0.0)', {'error'},
               'print(move_to(1.0, 0.0).arrived)', 'True\n', exc='ValueError'),
        attack('int_too_large_in_list', 'say(str(1), [10 ** 400])', {'error', 'ok'},
               "say('hi')\nprint('said')", 'said\n'),
    ],
    # Standard-library helpers that compile source text from names the model controls. The
    # payload would print INJECTED when the generated code is defined: it must never run.
    'code_generation': [
        attack('dataclass_annotation_from_type',
               "import dataclasses\nC = type('C', (), {'__annotations__': "
               "{\"x=print('INJECTED')\": int}})\nprint(dataclasses.dataclass(C))",
               {'error'}, DATACLASS_CONTROL, 'P(x=1.0, tags=[])\n', exc='TypeError'),
        attack('dataclass_decorator_options_from_type',
               "from dataclasses import dataclass\nC = type('C', (), {'__annotations__': "
               "{\"x=print('INJECTED')\": int}})\nprint(dataclass(frozen=True)(C))",
               {'error'}, exc='TypeError'),
        attack('dataclass_foreign_module',
               "import dataclasses\nC = type('C', (), {'__module__': 'os', "
               "'__annotations__': {'x': int}})\nprint(dataclasses.dataclass(C))",
               {'error'}, exc='TypeError'),
        attack('dataclass_renamed_base_field',
               'import dataclasses\n@dataclasses.dataclass\nclass A:\n    x: int = 0\n'
               "dataclasses.fields(A)[0].name = \"q=print('INJECTED')\"\n"
               '@dataclasses.dataclass\nclass B(A):\n    y: int = 1\nprint(B())',
               {'error'}, exc='TypeError'),
        attack('dataclass_fake_base_fields',
               'import dataclasses\nf = dataclasses.field(default=0)\n'
               "f.name = \"q=print('INJECTED')\"\n"
               "B = type('B', (), {'__dataclass_fields__': {'q': f}})\n"
               '@dataclasses.dataclass\nclass C(B):\n    y: int = 1\nprint(C())',
               {'error'}, exc='TypeError'),
        attack('metaclass_from_type_of_a_class',
               "import dataclasses\nT = type(int)\nC = T('C', (), {'__annotations__': "
               "{\"x=print('INJECTED')\": int}})\nprint(dataclasses.dataclass(C))",
               {'error'}, exc='TypeError'),
        attack('metaclass_from_typing_origin',
               'import dataclasses, typing\nT = typing.get_origin(typing.Type[int])\n'
               "C = T('C', (), {'__annotations__': {\"x=print('INJECTED')\": int}})\n"
               'print(dataclasses.dataclass(C))', {'error'}, exc='TypeError'),
        attack('make_dataclass_bad_field_name',
               "import dataclasses\nprint(dataclasses.make_dataclass('D', "
               "[\"x=print('INJECTED')\"]))", {'error'}, exc='TypeError'),
        attack('namedtuple_bad_field_name',
               "import collections\nprint(collections.namedtuple('N', "
               "[\"x=print('INJECTED')\"]))", {'error'}, exc='ValueError',
               control="import collections\nprint(collections.namedtuple('N', 'a b')(1, 2))",
               control_out='N(a=1, b=2)\n'),
        attack('typing_namedtuple_bad_field_name',
               "import typing\nprint(typing.NamedTuple('N', [(\"x=print('INJECTED')\", "
               'int)]))', {'error'}, exc='ValueError'),
        attack('forward_ref_evaluated_by_get_type_hints',
               "import typing\nhints = getattr(typing, 'get_' + 'type_hints')", {'error'},
               exc='AttributeError'),
        attack('forward_ref_class', "import typing\nprint(getattr(typing, 'Forward' + 'Ref'))",
               {'error'}, exc='AttributeError'),
    ],
    'time_bombs': [
        attack('del_method', 'class A:\n    def __del__(self):\n        pass', {'rejected'},
               'class A:\n    def __repr__(self):\n        return "A!"\nprint(A())', 'A!\n'),
        attack('reduce_method', 'class A:\n    def __reduce__(self):\n        return 1',
               {'rejected'}),
        attack('getattr_hook', 'class A:\n    def __getattr__(self, n):\n        return 1',
               {'rejected'}),
        attack('metaclass', 'class M(type):\n    pass\nclass A(metaclass=M):\n    pass',
               {'rejected'}),
        attack('str_bomb_in_exception',
               'class E(Exception):\n    def __str__(self):\n        while True:\n'
               '            pass\nraise E()', KILLED),
        attack('repr_bomb_as_argument',
               'class A:\n    def __repr__(self):\n        while True:\n            pass\n'
               'say(A())', {'error'}),
        attack('type_built_dunders', "A = type('A', (), {'__del__': print})\nsay(A())",
               {'error'}),
    ],
    'files_and_secrets': [
        attack('numpy_save', 'import numpy as np\nnp.save(SENTINEL, np.zeros(3))',
               {'rejected'}),
        attack('numpy_tofile', "import numpy as np\nnp.zeros(3).tofile(SENTINEL)",
               {'rejected'}),
        attack('numpy_save_getattr',
               "import numpy as np\ngetattr(np, 'save')(SENTINEL, np.zeros(3))", {'error'}),
        attack('numpy_loadtxt', "import numpy as np\nnp.loadtxt('/etc/passwd')", {'rejected'}),
        attack('numpy_datasource', "import numpy as np\nnp.DataSource('/')", {'error'}),
    ],
    'network': [
        attack('import_socket', 'import socket', {'rejected'}),
        attack('import_urllib', 'import urllib.request', {'rejected'}),
        attack('import_rclpy', 'import rclpy', {'rejected'}),
        attack('import_http', 'import http.client', {'rejected'}),
    ],
    'resources': [
        attack('infinite_loop', 'while True:\n    pass', {'timeout'},
               'n = 0\nwhile n < 10:\n    n += 1\nprint(n)', '10\n'),
        attack('huge_power', 'x = 10 ** 10 ** 9', {'timeout'}, 'print(2 ** 10)', '1024\n'),
        attack('factorial', 'import math\nmath.factorial(10 ** 8)', {'timeout'}),
        attack('regex_backtracking', "import re\nre.match(r'(a+)+$', 'a' * 40 + 'b')",
               {'timeout'}, "import re\nprint(bool(re.match(r'(a+)+$', 'aaa')))", 'True\n'),
        attack('memory_bomb_str', "x = 'a' * (10 ** 10)", {'error'},
               "x = 'a' * 1000\nprint(len(x))", '1000\n'),
        attack('memory_bomb_list', 'x = [0] * (10 ** 9)', {'error', 'killed'}),
        attack('memory_bomb_numpy', 'import numpy as np\nx = np.ones((60000, 60000))',
               {'error'}),
        attack('memory_growth', 'x = []\nwhile True:\n    x.append(bytearray(10 ** 7))',
               {'error', 'killed', 'timeout'}),
        attack('deep_recursion', 'def f(n):\n    return f(n + 1)\nf(0)', {'error'},
               'def f(n):\n    return 0 if n == 0 else f(n - 1) + 1\nprint(f(100))', '100\n'),
        attack('sleep_forever', 'import time\ntime.sleep(10 ** 6)', {'timeout'},
               'import time\ntime.sleep(0.01)\nprint("woke")', 'woke\n'),
        attack('output_flood', "while True:\n    print('x' * 1000)", {'timeout'}),
        attack('fork', 'import os\nos.fork()', {'rejected'}),
        attack('threads', 'import threading', {'rejected'}),
        attack('signals', 'import signal', {'rejected'}),
        attack('multiprocessing', 'import multiprocessing', {'rejected'}),
        attack('itertools_count', 'import itertools\nfor _ in itertools.count():\n    pass',
               {'timeout'}),
    ],
}

# Attacks that assume the model already escaped the Python layer: the OS layers alone.
OS_ATTACKS: dict[str, list[Attack]] = {
    'os_files_and_secrets': [
        attack('read_etc', "open('/etc/hostname').read()", {'error'},
               "open('note.txt', 'w').write('hi')\nprint(open('note.txt').read())", 'hi\n',
               exc='PermissionError'),
        attack('write_outside_scratch', "open(SENTINEL, 'w').write('x')", {'error'},
               exc='PermissionError'),
        attack('symlink_escape',
               "import os\nos.symlink('/etc/passwd', 'link')\nprint(open('link').read())",
               {'error'}, exc='PermissionError'),
        attack('env_secrets', f"import os\nassert '{SECRET_NAME}' not in os.environ\n"
               "assert 'ROS_DOMAIN_ID' not in os.environ\nraise RuntimeError('checked')",
               {'error'}),
        attack('parent_environ', "import os\nopen(f'/proc/{os.getppid()}/environ').read()",
               {'error'}, exc='PermissionError'),
        attack('site_packages_rclpy', 'import rclpy', {'error'}, exc='PermissionError'),
        attack('disk_fill', "open('big', 'wb').write(b'x' * (16 * 1024 * 1024))", {'error'},
               "open('small', 'wb').write(b'x' * 1024)\nprint('ok')", 'ok\n'),
        attack('fd_exhaustion', "fs = [open('f%d' % i, 'w') for i in range(1000)]",
               {'error'}, exc='OSError'),
    ],
    'os_network': [
        attack('tcp_connect_loopback',
               "import socket\ns = socket.create_connection(('127.0.0.1', PORT), timeout=1)",
               {'error'}, exc='PermissionError'),
        attack('udp_send', "import socket\nsocket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
               ".sendto(b'x', ('127.0.0.1', 7400))", {'error'}),
        attack('unix_socketpair', 'import socket\nsocket.socketpair()', {'error'}),
    ],
    'os_processes': [
        attack('fork', 'import os\nos.fork()', {'error'},
               'import os\nprint(os.getpid() > 1)', 'True\n', exc='PermissionError'),
        attack('subprocess', "import subprocess\nsubprocess.run(['/bin/true'])", {'error'}),
        attack('execv', "import os\nos.execv('/bin/sh', ['sh'])", {'error'}),
        attack('thread_outliving', 'import threading, time\n'
               'threading.Thread(target=time.sleep, args=(100,)).start()', {'error'}),
        attack('setsid', 'import os\nos.setsid()', {'error'}),
        attack('kill_parent', 'import os, signal\nos.kill(os.getppid(), signal.SIGKILL)',
               {'error'}, exc='PermissionError'),
        attack('ignore_sigterm_and_spin', 'import signal\n'
               'signal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n    pass',
               {'timeout'}),
        attack('raise_rlimits',
               'import resource\nresource.setrlimit(resource.RLIMIT_CPU, (-1, -1))',
               {'error'}),
        attack('unshare', "import os\nos.unshare(os.CLONE_NEWUSER)", {'error'}),
    ],
    'os_protocol': [
        attack('garbage_frame', "import socket, sys\n"
               "socket.socket(fileno=int(sys.argv[1])).sendall(b'\\xff' * 8)\n"
               "import time\ntime.sleep(5)", {'violation'}),
        attack('forged_call_unexposed', "import socket, sys, json, struct, time\n"
               "s = socket.socket(fileno=int(sys.argv[1]))\n"
               "d = json.dumps({'t': 'call', 'id': 1, 'name': 'emergency_stop', "
               "'args': ['x'], 'kwargs': {}}).encode()\n"
               "s.sendall(struct.pack('>I', len(d)) + d)\ntime.sleep(5)", {'violation'}),
        attack('forged_done_types', "import socket, sys, json, struct, time\n"
               "s = socket.socket(fileno=int(sys.argv[1]))\n"
               "d = json.dumps({'t': 'done', 'ok': False, 'exc_type': [1], "
               "'exc_message': {'a': 1}, 'traceback': 5}).encode()\n"
               "s.sendall(struct.pack('>I', len(d)) + d)\ntime.sleep(5)", {'error'}),
        attack('frame_flood', "import socket, sys, json, struct\n"
               "s = socket.socket(fileno=int(sys.argv[1]))\n"
               "d = json.dumps({'t': 'out', 's': 'stdout', 'd': 'x' * 1000}).encode()\n"
               "f = struct.pack('>I', len(d)) + d\nwhile True:\n    s.sendall(f)",
               {'timeout'}),
        attack('stderr_fd_flood', "import os\nwhile True:\n    os.write(2, b'x' * 65536)",
               {'timeout'}),
        attack('exit_hard', 'import os\nos._exit(0)', {'crashed'}),
        attack('segfault', 'import ctypes\nctypes.string_at(0)', {'crashed'}),
    ],
}


def _case_ids(table: dict[str, list[Attack]]) -> list[tuple[str, Attack]]:
    return [pytest.param(cat, a, id=f'{cat}-{a.name}') for cat, items in table.items()
            for a in items]


def _close_and_check(ex: Executor) -> None:
    pids = ex.child_pids()
    assert pids, 'expected live children before close'
    scratch = [c.scratch for c in (ex._child, ex._spare) if c is not None]  # noqa: SLF001
    ex.close()
    alive = set(_our_sandbox_children())
    assert not alive & set(pids)
    assert scratch and not any(os.path.exists(p) for p in scratch), 'scratch dirs left'


def _our_sandbox_children() -> list[int]:
    """Pids of live sandbox processes whose parent is this test process."""
    found = []
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / 'stat').read_text()
            cmdline = (entry / 'cmdline').read_bytes()
        except OSError:
            continue  # the process ended while we looked
        ppid = int(stat.rsplit(')', 1)[1].split()[1])
        if ppid == os.getpid() and b'sandbox_child.py' in cmdline and \
                ' Z ' not in stat.rsplit(')', 1)[1][:3]:
            found.append(int(entry.name))
    return found


@pytest.fixture(scope='module')
def robot():
    return RecordingRobotApiDouble()


@pytest.fixture(scope='module')
def guarded(robot):
    ex = Executor(api=robot, limits=LIMITS)
    yield ex
    _close_and_check(ex)


@pytest.fixture(scope='module')
def os_only(robot):
    os.environ[SECRET_NAME] = 'hunter2'
    try:
        ex = Executor(api=robot, limits=LIMITS, python_layer=False)
    finally:
        del os.environ[SECRET_NAME]
    yield ex
    _close_and_check(ex)


@pytest.fixture(scope='module')
def listener():
    server = socket.socket()
    server.bind(('127.0.0.1', 0))
    server.listen(1)
    server.settimeout(0.5)
    yield server
    server.close()


def _check(ex: Executor, robot: RecordingRobotApiDouble, category: str, case: Attack,
           port: int | None = None) -> None:
    pids = ex.child_pids()
    stops = len(robot.stops)
    code = case.code.replace('PORT', str(port)) if port else case.code
    res = ex.run(code, timeout=case.timeout)
    print(f'{case.name}: {res.status.value}: {res.exc_type}: {(res.exc_message or "")[:120]}'
          f' {res.violations[:1]}')
    assert res.status.value in case.expect, res.to_observation()
    if case.exc:
        assert res.exc_type == case.exc, res.to_observation()
    assert not SENTINEL.exists(), 'the attack left a file outside the sandbox'
    if res.status.value in KILLED:
        assert res.robot_stopped and len(robot.stops) > stops
        assert res.state_reset
        for pid in pids[:1]:  # the child that ran the attack is gone
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    if res.status == ExecStatus.REJECTED:
        assert res.violations and not res.api_calls
    if category == 'os_protocol':
        # A child that forged frames is compromised: the next episode gets a fresh one.
        ex.reset()
    control = ex.run(case.control, timeout=5.0)
    assert control.status == ExecStatus.OK, control.to_observation()
    assert control.stdout == case.control_out


@pytest.mark.parametrize(('category', 'case'), _case_ids(ATTACKS))
def test_attack_with_python_layer(guarded, robot, category, case):
    _check(guarded, robot, category, case)


@pytest.mark.parametrize(('category', 'case'), _case_ids(OS_ATTACKS))
def test_attack_on_os_layers_alone(os_only, robot, listener, category, case):
    _check(os_only, robot, category, case, port=listener.getsockname()[1])
    if case.name == 'tcp_connect_loopback':
        with pytest.raises(TimeoutError):
            listener.accept()


def test_cpu_time_limit_kills_child(robot):
    limits = ExecutionLimits(call_timeout_s=20.0, cpu_time_s=1, warm_pool=False)
    with Executor(api=robot, limits=limits) as ex:
        res = ex.run('while True:\n    pass')
        assert res.status == ExecStatus.KILLED, res.to_observation()
        assert 'CPU time limit' in res.exc_message and res.robot_stopped
        assert ex.run('print(3)').stdout == '3\n'


def test_api_call_flood_is_a_violation(robot):
    limits = ExecutionLimits(call_timeout_s=10.0, max_api_calls=50, warm_pool=False)
    with Executor(api=robot, limits=limits) as ex:
        res = ex.run('while True:\n    get_pose()')
        assert res.status == ExecStatus.VIOLATION and len(res.api_calls) == 50
        assert res.robot_stopped


def test_host_survives_concurrent_use_and_close(robot):
    ex = Executor(api=robot, limits=LIMITS)
    results = []
    thread = threading.Thread(target=lambda: results.append(ex.run('while True:\n    pass',
                                                                   timeout=1.0)))
    thread.start()
    thread.join(timeout=10.0)
    assert results and results[0].status == ExecStatus.TIMEOUT
    _close_and_check(ex)
    ex.close()


def test_child_is_an_isolated_python_without_ros_or_parent_env(os_only):
    res = os_only.run(
        'import sys, os, json\n'
        "print(sys.flags.isolated, sys.flags.no_site, any(m.startswith('rclpy') for m in "
        "sys.modules), os.getcwd() == os.environ['HOME'])\n"
        'print(json.dumps(sorted(os.environ)))')
    assert res.status == ExecStatus.OK, res.to_observation()
    first, second = res.stdout.splitlines()
    assert first == '1 1 False True'
    assert json.loads(second) == sorted([
        'HOME', 'LANG', 'LC_ALL', 'MKL_NUM_THREADS', 'OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS',
        'PATH', 'TMPDIR'])


HOST_SCRIPT = """
import sys, threading
from codeact_robot.executor import Executor, ExecutionLimits
from codeact_robot.executor.offline_robot import OfflineRobotDouble
ex = Executor(api=OfflineRobotDouble(), limits=ExecutionLimits(call_timeout_s=60))
ex.run('x = 1')  # the first child is ready; a warm spare starts
ex.sandbox_layers
threading.Timer(0.5, lambda: print(*ex.child_pids(), flush=True)).start()
ex.run('import time\\ntime.sleep(60)')  # the host is killed while this runs
"""


def test_children_die_with_a_killed_host():
    host = subprocess.Popen([sys.executable, '-c', HOST_SCRIPT], stdout=subprocess.PIPE,
                            text=True)
    try:
        line = host.stdout.readline()
        pids = [int(p) for p in line.split()]
        assert len(pids) == 2, line
        assert all(_alive(p) for p in pids)
    finally:
        host.kill()
        host.wait(timeout=10)
    deadline = time.monotonic() + 10.0
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(p) for p in pids), 'a sandbox child outlived its host'


def _alive(pid: int) -> bool:
    try:
        stat = Path(f'/proc/{pid}/stat').read_text()
    except OSError:
        return False
    return stat.rsplit(')', 1)[1].split()[0] != 'Z'


NON_ROOT_SCRIPT = """
import json, os
from codeact_robot.executor import Executor, ExecutionLimits
from codeact_robot.executor.offline_robot import OfflineRobotDouble
robot = OfflineRobotDouble()
out = {'uid': os.geteuid()}
with Executor(api=robot, limits=ExecutionLimits(warm_pool=False)) as ex:
    out['layers'] = ex.sandbox_layers
    out['ok'] = ex.run("print(go_to('shelf A').arrived)").stdout
    out['timeout'] = ex.run('while True:\\n    pass', timeout=0.5).status.value
with Executor(api=robot, limits=ExecutionLimits(warm_pool=False), python_layer=False) as ex:
    for name, code in [('net', "import socket\\nsocket.create_connection(('127.0.0.1', 9))"),
                       ('fork', 'import os\\nos.fork()'),
                       ('parent_env', "import os\\nopen(f'/proc/{os.getppid()}/environ')"),
                       ('read', "open('/etc/hostname')")]:
        out[name] = ex.run(code).exc_type
out['stops'] = len(robot.stops)
print(json.dumps(out))
"""


def test_the_sandbox_holds_for_a_non_root_host():
    # CI runs as root; users do not. Run a whole host as nobody with the system Python (the
    # project's interpreter may sit under /root, which nobody cannot read).
    python = shutil.which('python3', path='/usr/bin:/bin')
    if os.geteuid() != 0 or not python or not shutil.which('setpriv'):
        pytest.skip('needs root (to switch to nobody), /usr/bin/python3 and setpriv')
    repo = str(Path(__file__).resolve().parent.parent)
    env = {'PATH': '/usr/bin:/bin', 'HOME': '/tmp', 'PYTHONPATH': repo, 'LANG': 'C.UTF-8'}
    done = subprocess.run(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
                           python, '-c', NON_ROOT_SCRIPT], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.splitlines()[-1])
    print('non-root host:', out)
    assert out['uid'] == 65534
    assert out['layers']['network'] == 'userns+netns' and out['layers']['seccomp']
    assert out['layers']['landlock_abi'] >= 1 and out['layers']['dropped_root'] is False
    assert out['ok'] == 'True\n' and out['timeout'] == 'timeout' and out['stops'] == 1
    assert out['net'] == 'PermissionError' and out['fork'] == 'PermissionError'
    assert out['parent_env'] == 'PermissionError' and out['read'] == 'PermissionError'
