"""The sandboxed child process: runs the model's code behind OS and Python restrictions.

Started by ``codeact_robot.executor.executor`` as ``python -I -S -B sandbox_child.py FD CONFIG``
(no site, so the ROS wheels' .pth bootstrap never runs and nothing of the parent's packages but
the allowed modules is imported). This file is self-contained: it imports only the standard
library and the allowed modules. It is trusted code until it reads the first piece of model
code; before that it applies, in order: resource limits, a network namespace (user namespace
when not root), dropping root to nobody, no-new-privs, Landlock (read-only stdlib and numpy,
read-write scratch, no TCP, no signals outside) and a seccomp filter (no new processes, no
sockets, no signals to others, no namespace or rlimit changes). It then reports which layers
are active and serves requests over the socket FD: length-prefixed JSON frames, never pickle.
"""

import builtins
import ctypes
import errno
import json
import keyword
import os
import resource
import signal
import socket
import struct
import sys
import time

_HEADER = struct.Struct('>I')
_MAX_FRAME = 4 * 1024 * 1024  # the parent's limit; a larger frame is a protocol violation
_MAX_CALL_BYTES = 1024 * 1024
_MAX_TEXT = 8000  # characters of an exception message or traceback sent back
_FLUSH_CHARS = 4096
_FLUSH_SECONDS = 0.05


class Channel:
    """Length-prefixed JSON frames over a connected stream socket."""

    def __init__(self, sock):
        self.sock = sock

    def send(self, obj, limit=_MAX_FRAME):
        """Send one frame; ValueError (nothing sent) when it would exceed limit bytes."""
        data = json.dumps(obj, separators=(',', ':')).encode('utf-8', 'surrogatepass')
        if len(data) > limit:
            raise ValueError(f'the data sent to the robot is too large ({len(data)} bytes, '
                             f'at most {limit})')
        self.sock.sendall(_HEADER.pack(len(data)) + data)

    def _read(self, n):
        chunks = []
        while n:
            chunk = self.sock.recv(min(n, 1 << 20))
            if not chunk:
                raise EOFError('parent closed the channel')
            chunks.append(chunk)
            n -= len(chunk)
        return b''.join(chunks)

    def recv(self):
        """Return the next frame (EOFError when the parent is gone)."""
        (size,) = _HEADER.unpack(self._read(_HEADER.size))
        if size > _MAX_FRAME:
            raise EOFError('frame too large')
        return json.loads(self._read(size))


# --------------------------------------------------------------------------- OS layers

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                        ctypes.c_ulong]

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_PR_SET_DUMPABLE = 4
_PR_SET_PDEATHSIG = 1
_SYS_LANDLOCK_CREATE_RULESET = 444
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446


def set_rlimits(limits):
    """Apply CPU, memory, file, process and core limits (soft == hard where possible)."""
    cpu = int(limits['cpu_time_s'])
    mem = int(limits['memory_mb']) * 1024 * 1024
    fsize = int(limits['max_file_mb']) * 1024 * 1024
    nofile = int(limits['max_open_files'])
    # CPU: SIGXCPU at the soft limit, the kernel's SIGKILL one second later.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_MEMLOCK, (0, 0))
    resource.setrlimit(resource.RLIMIT_MSGQUEUE, (0, 0))
    # No new processes or threads (applies to non-root uids; root is dropped first).
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))


def enter_network_namespace():
    """Unshare the network (as root) or a user + network namespace (as a user)."""
    if _libc.unshare(_CLONE_NEWNET) == 0:
        return 'netns'
    if _libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) == 0:
        return 'userns+netns'
    return ''


def drop_root(uid):
    """Become an unprivileged uid when started as root."""
    if os.geteuid() != 0 or uid is None:
        return False
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    return os.geteuid() == uid


class _LandlockRulesetAttr(ctypes.Structure):
    _fields_ = [('handled_access_fs', ctypes.c_uint64), ('handled_access_net', ctypes.c_uint64),
                ('scoped', ctypes.c_uint64)]


class _LandlockPathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [('allowed_access', ctypes.c_uint64), ('parent_fd', ctypes.c_int32)]


_FS_EXECUTE = 1 << 0
_FS_WRITE_FILE = 1 << 1
_FS_READ_FILE = 1 << 2
_FS_READ_DIR = 1 << 3
_FS_REMOVE_DIR = 1 << 4
_FS_REMOVE_FILE = 1 << 5
_FS_MAKE_DIR = 1 << 7
_FS_MAKE_REG = 1 << 8
_FS_TRUNCATE = 1 << 14
_FS_FILE_ONLY = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | _FS_TRUNCATE | (1 << 15)


def _fs_mask(abi):
    mask = (1 << 13) - 1  # ABI 1: execute .. make_sym
    if abi >= 2:
        mask |= 1 << 13   # refer
    if abi >= 3:
        mask |= 1 << 14   # truncate
    if abi >= 5:
        mask |= 1 << 15   # ioctl_dev
    return mask


def apply_landlock(read_dirs, write_dirs):
    """Restrict the filesystem to read_dirs (read-only) and write_dirs; return the ABI or 0."""
    abi = _libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0),
                        ctypes.c_uint32(1))
    if abi < 1:
        return 0
    handled = _fs_mask(abi)
    attr = _LandlockRulesetAttr(handled, 0, 0)
    size = 8
    if abi >= 4:
        attr.handled_access_net = 0b11  # bind_tcp, connect_tcp: none allowed
        size = 16
    if abi >= 6:
        attr.scoped = 0b11  # abstract unix sockets and signals stay inside the sandbox
        size = 24
    ruleset = _libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr),
                            ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return 0
    try:
        read = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
        write = read | _FS_WRITE_FILE | _FS_REMOVE_DIR | _FS_REMOVE_FILE | _FS_MAKE_DIR | \
            _FS_MAKE_REG | (_FS_TRUNCATE if abi >= 3 else 0)
        for paths, access in ((read_dirs, read), (write_dirs, write)):
            for path in paths:
                try:
                    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue  # a missing optional directory needs no rule
                try:
                    allowed = access & handled
                    if not os.path.isdir(path):
                        allowed &= _FS_FILE_ONLY
                    rule = _LandlockPathBeneathAttr(allowed, fd)
                    if _libc.syscall(_SYS_LANDLOCK_ADD_RULE, ctypes.c_int(ruleset),
                                     ctypes.c_int(1), ctypes.byref(rule),
                                     ctypes.c_uint32(0)) != 0:
                        raise OSError(ctypes.get_errno(), f'landlock_add_rule {path}')
                finally:
                    os.close(fd)
        if _libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_int(ruleset),
                         ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), 'landlock_restrict_self')
    finally:
        os.close(ruleset)
    return abi


class _SockFilter(ctypes.Structure):
    _fields_ = [('code', ctypes.c_uint16), ('jt', ctypes.c_uint8), ('jf', ctypes.c_uint8),
                ('k', ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [('len', ctypes.c_uint16), ('filter', ctypes.POINTER(_SockFilter))]


_AUDIT_ARCH_X86_64 = 0xC000003E
_RET_ALLOW = 0x7FFF0000
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
# x86_64 numbers: processes, sockets, signals to others, namespaces, limits, kernel surfaces.
_DENIED_SYSCALLS = {
    57: 'fork', 58: 'vfork', 59: 'execve', 322: 'execveat', 41: 'socket', 53: 'socketpair',
    42: 'connect', 49: 'bind', 50: 'listen', 200: 'tkill', 101: 'ptrace', 112: 'setsid',
    109: 'setpgid', 160: 'setrlimit', 302: 'prlimit64', 272: 'unshare', 308: 'setns',
    165: 'mount', 166: 'umount2', 155: 'pivot_root', 161: 'chroot', 321: 'bpf',
    298: 'perf_event_open', 250: 'keyctl', 248: 'add_key', 249: 'request_key',
    425: 'io_uring_setup', 426: 'io_uring_enter', 427: 'io_uring_register',
    323: 'userfaultfd', 135: 'personality', 310: 'process_vm_readv',
    311: 'process_vm_writev', 246: 'kexec_load', 175: 'init_module', 313: 'finit_module',
    176: 'delete_module', 169: 'reboot', 167: 'swapon', 163: 'acct', 164: 'settimeofday',
    227: 'clock_settime', 170: 'sethostname', 171: 'setdomainname', 172: 'iopl',
    173: 'ioperm', 434: 'pidfd_open', 424: 'pidfd_send_signal', 438: 'pidfd_getfd',
    304: 'open_by_handle_at', 133: 'mknod', 259: 'mknodat', 129: 'rt_sigqueueinfo',
    297: 'rt_tgsigqueueinfo', 105: 'setuid', 106: 'setgid', 116: 'setgroups',
}
_SYS_CLONE = 56
_SYS_CLONE3 = 435
_SYS_KILL = 62
_SYS_TGKILL = 234
_CLONE_THREAD = 0x00010000


def _stmt(code, k):
    return (code, 0, 0, k)


def _jump(code, k, jt, jf):
    return (code, jt, jf, k)


def seccomp_program(own_pid):
    """Return the BPF program (list of (code, jt, jf, k)) of the child's seccomp filter."""
    deny = _RET_ERRNO | errno.EPERM
    prog = [
        _stmt(_LD_W_ABS, 4),  # arch
        _jump(_JEQ_K, _AUDIT_ARCH_X86_64, 1, 0),
        _stmt(_RET_K, _RET_KILL_PROCESS),
        _stmt(_LD_W_ABS, 0),  # syscall number
        _jump(_JGE_K, 0x40000000, 0, 1),  # x32 ABI numbers
        _stmt(_RET_K, deny),
    ]
    for nr in sorted(_DENIED_SYSCALLS):
        prog += [_jump(_JEQ_K, nr, 0, 1), _stmt(_RET_K, deny)]
    # clone3 passes flags in memory the filter cannot read: ENOSYS makes glibc fall back to
    # clone, whose flags it can check.
    prog += [_jump(_JEQ_K, _SYS_CLONE3, 0, 1), _stmt(_RET_K, _RET_ERRNO | errno.ENOSYS)]
    # clone: threads only (processes are refused).
    prog += [
        _jump(_JEQ_K, _SYS_CLONE, 0, 4),
        _stmt(_LD_W_ABS, 16),  # args[0] low word (flags)
        _jump(_JSET_K, _CLONE_THREAD, 0, 1),
        _stmt(_RET_K, _RET_ALLOW),
        _stmt(_RET_K, deny),
    ]
    # kill / tgkill: only this process may be signalled.
    for nr in (_SYS_KILL, _SYS_TGKILL):
        prog += [
            _jump(_JEQ_K, nr, 0, 4),
            _stmt(_LD_W_ABS, 16),  # args[0] low word (pid / tgid)
            _jump(_JEQ_K, own_pid, 0, 1),
            _stmt(_RET_K, _RET_ALLOW),
            _stmt(_RET_K, deny),
        ]
    prog.append(_stmt(_RET_K, _RET_ALLOW))
    return prog


def apply_seccomp():
    """Install the seccomp filter; return True when active (x86_64 only)."""
    if os.uname().machine != 'x86_64':
        return False
    prog = seccomp_program(os.getpid())
    filters = (_SockFilter * len(prog))(*[_SockFilter(*ins) for ins in prog])
    fprog = _SockFprog(len(prog), filters)
    if _libc.prctl(_PR_SET_SECCOMP, 2, ctypes.addressof(fprog), 0, 0) != 0:
        return False
    return True


def apply_sandbox(config):
    """Apply every OS layer the kernel offers; return what is active."""
    layers = {}
    # Tests pretend the kernel lacks a layer (the executor must then refuse to run).
    off = set(config.get('simulate_missing', ()))
    if 'no_new_privs' in off:
        off |= {'landlock', 'seccomp'}  # an unprivileged process needs it for both
    if 'rlimits' not in off:
        set_rlimits(config['limits'])
    layers['rlimits'] = 'rlimits' not in off
    layers['network'] = '' if 'network' in off else enter_network_namespace()
    layers['uid'] = os.geteuid()
    layers['dropped_root'] = False if 'drop_root' in off else drop_root(config.get('drop_uid'))
    # Die with the parent (its spawning thread). Set after the uid change, which clears it.
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != config['parent_pid']:
        os._exit(70)  # the parent died before the line above: nobody will read our results
    layers['no_new_privs'] = 'no_new_privs' not in off and \
        _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
    # Not dumpable: other processes of the same uid cannot ptrace or read /proc/<pid>/mem.
    _libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    layers['landlock_abi'] = 0 if 'landlock' in off else apply_landlock(
        config['read_dirs'], [config['scratch']])
    layers['seccomp'] = False if 'seccomp' in off else apply_seccomp()
    return layers


# --------------------------------------------------------------------------- Python layer

class OutputStream:
    """A capped text stream forwarded to the parent in chunks."""

    def __init__(self, channel, name, budget):
        self._channel = channel
        self._name = name
        self._budget = budget
        self._parts = []
        self._size = 0
        self._last = time.monotonic()

    def write(self, text):
        """Keep text within the output budget, flushing now and then."""
        if not isinstance(text, str):
            raise TypeError(f'write() argument must be str, not {type(text).__name__}')
        if self._budget[0] <= 0:
            self._budget[1] = True
            return len(text)
        kept = text[:self._budget[0]]
        self._budget[0] -= len(kept)
        if len(kept) < len(text):
            self._budget[1] = True
        self._parts.append(kept)
        self._size += len(kept)
        now = time.monotonic()
        if self._size >= _FLUSH_CHARS or now - self._last >= _FLUSH_SECONDS:
            self.flush()
        return len(text)

    def flush(self):
        """Send buffered text to the parent."""
        self._last = time.monotonic()
        if self._parts:
            data = ''.join(self._parts)
            self._parts.clear()
            self._size = 0
            self._channel.send({'t': 'out', 's': self._name, 'd': data})

    def isatty(self):
        """Return False: output goes to the parent."""
        return False


class ModuleProxy:
    """Read-only view of an allowed module: no private names, no modules outside the list."""

    __slots__ = ('_m', '_runtime')

    def __init__(self, module, runtime):
        object.__setattr__(self, '_m', module)
        object.__setattr__(self, '_runtime', runtime)

    def __getattr__(self, name):
        module = object.__getattribute__(self, '_m')
        runtime = object.__getattribute__(self, '_runtime')
        runtime.check_attribute(name, module.__name__)
        guarded = runtime.guarded.get((module.__name__, name))
        if guarded is not None:
            return guarded
        value = getattr(module, name)
        if type(value) is type(sys):
            return runtime.wrap_module(value, name)
        return value

    def __setattr__(self, name, value):
        raise AttributeError('modules are read-only in the sandbox')

    def __delattr__(self, name):
        raise AttributeError('modules are read-only in the sandbox')

    def __dir__(self):
        module = object.__getattribute__(self, '_m')
        return [n for n in dir(module) if not n.startswith('_')]

    def __repr__(self):
        return f"<module '{object.__getattribute__(self, '_m').__name__}' (sandboxed)>"


class Record:
    """A read-only result record with attribute access, e.g. ``r.arrived``, ``r.pose.x``."""

    __slots__ = ('_n', '_f')

    def __init__(self, name, fields):
        object.__setattr__(self, '_n', name)
        object.__setattr__(self, '_f', fields)

    def __getattr__(self, name):
        fields = object.__getattribute__(self, '_f')
        if name in fields and not name.startswith('_'):
            return fields[name]
        raise AttributeError(f"'{object.__getattribute__(self, '_n')}' has no attribute "
                             f"'{name}'")

    def __setattr__(self, name, value):
        raise AttributeError(f"'{object.__getattribute__(self, '_n')}' is read-only")

    def __delattr__(self, name):
        raise AttributeError(f"'{object.__getattribute__(self, '_n')}' is read-only")

    def __eq__(self, other):
        if not isinstance(other, Record):
            return NotImplemented
        return (object.__getattribute__(self, '_n'), object.__getattribute__(self, '_f')) == \
            (object.__getattribute__(other, '_n'), object.__getattribute__(other, '_f'))

    def __hash__(self):
        return hash(object.__getattribute__(self, '_n'))

    def __dir__(self):
        return list(object.__getattribute__(self, '_f'))

    def __repr__(self):
        # Short, like the host's result types: centimetres, unset (None) fields left out.
        fields = object.__getattribute__(self, '_f')
        inner = ', '.join(f'{k}={_rounded(v)!r}' for k, v in fields.items() if v is not None)
        return f"{object.__getattribute__(self, '_n')}({inner})"


_RECORD_CLASSES = {}


def _record_class(name):
    """Return the Record subclass named like the host's result type (``type(p).__name__``)."""
    cls = _RECORD_CLASSES.get(name)
    if cls is None:
        safe = name if isinstance(name, str) and name.isidentifier() else 'Record'
        cls = _RECORD_CLASSES[name] = type(safe, (Record,), {'__slots__': ()})
    return cls


def _rounded(value):
    if type(value) is float:
        return round(value, 2)
    if type(value) in (tuple, list):
        return type(value)(_rounded(v) for v in value)
    return value


_PLAIN = (type(None), bool, int, float, str)


def encode(value, depth=0):
    """Encode plain data for the parent; anything else is a TypeError."""
    if depth > 32:
        raise ValueError('value is nested too deeply to send to the robot')
    kind = type(value)
    if kind is str:
        try:
            value.encode('utf-8')
        except UnicodeEncodeError:
            raise TypeError('strings sent to the robot must be valid Unicode (no lone '
                            'surrogates)') from None
        return value
    if kind in _PLAIN:
        return value
    if kind is list:
        return [encode(v, depth + 1) for v in value]
    if kind is tuple:
        return {'$tuple': [encode(v, depth + 1) for v in value]}
    if kind is dict:
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                raise TypeError('dict keys sent to the robot must be str')
            out[encode(key, depth + 1)] = encode(item, depth + 1)
        return {'$dict': out}
    raise TypeError(f'a value of type {kind.__name__} cannot be sent to the robot; use numbers, '
                    'strings, booleans, None, lists, tuples or dicts')


def decode(value):
    """Rebuild plain data and read-only records sent by the parent."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if isinstance(value, dict):
        if '$tuple' in value:
            return tuple(decode(v) for v in value['$tuple'])
        if '$dict' in value:
            return {k: decode(v) for k, v in value['$dict'].items()}
        if '$rec' in value:
            return _record_class(value['$rec'])(
                value['$rec'], {k: decode(v) for k, v in value['f'].items()})
        return {k: decode(v) for k, v in value.items()}
    return value


MODEL_MODULE = '__model__'


def _check_class_for_codegen(cls):
    """Refuse a class whose field names could smuggle code into generated source.

    ``dataclasses`` writes ``__init__``/``__repr__``/... as source text from the annotation
    names and runs it with ``exec``. A class statement only has identifiers there, but
    three-argument ``type()`` takes any string; and a class claiming another module
    (``'__module__': 'os'``) would get that module's globals for the generated code.
    """
    if not isinstance(cls, type):
        raise TypeError('dataclass() takes a class')
    if cls.__module__ != MODEL_MODULE:
        raise TypeError('dataclass() in the sandbox only takes classes defined by your code')
    names = list(cls.__dict__.get('__annotations__', {}))
    # Inherited fields are written into the same source: a base's field records (their
    # .name can be reassigned) and a fake __dataclass_fields__ from type() count too.
    for base in cls.__mro__:
        for key, field in dict(base.__dict__.get('__dataclass_fields__', {})).items():
            names += [key, getattr(field, 'name', None)]
    for name in names:
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise TypeError(f'field names must be identifiers, not {name!r}')


def _guarded_dataclass(real):
    def dataclass(cls=None, /, **options):
        """dataclasses.dataclass, refusing classes whose fields are not identifiers."""
        def wrap(c):
            _check_class_for_codegen(c)
            return real(c, **options)
        return wrap if cls is None else wrap(cls)

    dataclass.__module__ = 'dataclasses'
    return dataclass


class Runtime:
    """The model's namespace, restricted builtins, module proxies and API proxies."""

    _SAFE_BUILTINS = (
        'abs', 'all', 'any', 'ascii', 'bin', 'bool', 'bytearray', 'bytes', 'callable', 'chr',
        'complex', 'dict', 'divmod', 'enumerate', 'filter', 'float', 'format', 'frozenset',
        'hash', 'hex', 'id', 'int', 'isinstance', 'issubclass', 'iter', 'len', 'list', 'map',
        'max', 'min', 'next', 'object', 'oct', 'ord', 'pow', 'print', 'property', 'range',
        'repr', 'reversed', 'round', 'set', 'slice', 'sorted', 'staticmethod', 'classmethod',
        'str', 'sum', 'super', 'tuple', 'type', 'zip', 'True', 'False', 'None', 'Ellipsis',
        'NotImplemented',
    )

    def __init__(self, channel, config):
        self.channel = channel
        self.config = config
        self.allowed = frozenset(config['allowed_modules'])
        self.forbidden_attrs = frozenset(config['forbidden_attributes'])
        self.module_denied = {k: frozenset(v) for k, v in config['module_denied'].items()}
        self.python_layer = bool(config.get('python_layer', True))
        self.proxies = {}
        self.call_id = 0
        self.budget = [0, False]
        self.errors = self._make_errors(config['errors'])
        self.stdout = OutputStream(channel, 'stdout', self.budget)
        self.stderr = OutputStream(channel, 'stderr', self.budget)
        self.guarded = {}
        if self.python_layer:
            import dataclasses
            self.guarded[('dataclasses', 'dataclass')] = _guarded_dataclass(
                dataclasses.dataclass)
        self.namespace = self._make_namespace(config['functions'])

    # -- restrictions
    def check_attribute(self, name, module_name=''):
        """Raise AttributeError for private, forbidden or module-denied names."""
        if name.startswith('_') or name in self.forbidden_attrs:
            raise AttributeError(f"access to '{name}' is not allowed in the sandbox")
        root = module_name.split('.')[0]
        if name in self.module_denied.get(root, ()):
            raise AttributeError(f"'{root}.{name}' is not allowed in the sandbox")

    def module_allowed(self, name):
        """Return True for an allowed module with no private or denied part in its name."""
        parts = name.split('.')
        denied = self.module_denied.get(parts[0], ())
        return parts[0] in self.allowed and not any(
            p.startswith('_') or p in denied or p in self.forbidden_attrs for p in parts[1:])

    def wrap_module(self, module, name=''):
        """Return the read-only proxy of an allowed module."""
        if not self.module_allowed(module.__name__):
            raise AttributeError(f"module '{module.__name__}' is not allowed in the sandbox")
        proxy = self.proxies.get(module.__name__)
        if proxy is None:
            proxy = self.proxies[module.__name__] = ModuleProxy(module, self)
        return proxy

    def safe_import(self, name, globals=None, locals=None, fromlist=(), level=0):
        """Import an allowed module and return its proxy."""
        root = name.split('.')[0]
        if type(fromlist) is list and not level and (root in self.allowed
                                                     or name in sys.modules):
            # PyImport_Import from C (e.g. numpy's lazy ``_methods``) runs with the model's
            # builtins and passes a list; import statements pass None or a tuple, and the
            # model cannot call __import__ itself (the name is refused).
            return _real_import(name, None, None, fromlist, 0)
        if level or not self.module_allowed(name):
            raise ImportError(f"import of '{name}' is not allowed; allowed modules: "
                              + ', '.join(sorted(self.allowed)))
        module = _real_import(name, None, None, fromlist, 0)
        if fromlist:
            return self.wrap_module(module)
        return self.wrap_module(sys.modules[root])

    def safe_getattr(self, obj, name, *default):
        """Return getattr(obj, name) unless the name is private or forbidden."""
        if not isinstance(name, str):
            raise TypeError('attribute name must be a string')
        if name.startswith('_') or name in self.forbidden_attrs or name in (
                'format', 'format_map'):
            raise AttributeError(f"access to '{name}' is not allowed in the sandbox")
        return getattr(obj, name, *default)

    def safe_hasattr(self, obj, name):
        """Return hasattr(obj, name) under the rules of safe_getattr."""
        try:
            self.safe_getattr(obj, name)
        except AttributeError:
            return False
        return True

    # -- namespace
    def _make_errors(self, specs):
        errors = {}

        def _str(self):
            return str(self.args[0]) if self.args else ''

        for name, bases in specs:
            resolved = tuple(errors.get(b) or getattr(builtins, b) for b in bases)
            errors[name] = type(name, resolved, {'__str__': _str, '__module__': 'robot'})
        return errors

    def _make_proxy(self, name, doc):
        runtime = self

        def proxy(*args, **kwargs):
            return runtime.call(name, args, kwargs)

        proxy.__name__ = proxy.__qualname__ = name
        proxy.__doc__ = doc
        proxy.__module__ = 'robot'
        return proxy

    def _make_namespace(self, functions):
        if self.python_layer:
            safe = {n: getattr(builtins, n) for n in self._SAFE_BUILTINS}
            for name in dir(builtins):
                value = getattr(builtins, name)
                if isinstance(value, type) and issubclass(value, BaseException):
                    safe[name] = value
            safe['getattr'] = self.safe_getattr
            safe['hasattr'] = self.safe_hasattr
            safe['__import__'] = self.safe_import
            safe['__build_class__'] = builtins.__build_class__
        else:
            safe = dict(vars(builtins))  # test-only: the OS layers alone
        # The namespace is a registered module's dict: code the stdlib generates for the
        # model's classes (dataclasses looks up sys.modules[cls.__module__]) then runs with
        # these builtins, not with the real ones an unknown module would get.
        module = type(sys)(MODEL_MODULE)
        sys.modules[MODEL_MODULE] = module
        namespace = module.__dict__
        namespace.update({'__builtins__': safe, '__name__': MODEL_MODULE})
        for name, doc in functions:
            namespace[name] = self._make_proxy(name, doc)
        namespace.update(self.errors)
        return namespace

    # -- API calls
    def call(self, name, args, kwargs):
        """Send an API call to the parent and return its result or raise its error."""
        payload = {'t': 'call', 'id': self.call_id + 1, 'name': name,
                   'args': [encode(a) for a in args],
                   'kwargs': {k: encode(v) for k, v in kwargs.items()}}
        self.call_id += 1
        self.stdout.flush()
        self.stderr.flush()
        self.channel.send(payload, _MAX_CALL_BYTES)
        reply = self.channel.recv()
        if reply.get('t') != 'ret' or reply.get('id') != self.call_id:
            raise SystemExit('protocol error')
        if reply['ok']:
            return decode(reply['value'])
        error = reply['error']
        cls = self.errors.get(error['type']) or {
            'TypeError': TypeError, 'ValueError': ValueError}.get(error['type'], RuntimeError)
        raise cls(error['message'])

    # -- running code
    def run(self, code, output_chars):
        """Execute code in the namespace; return the done message."""
        self.budget[0] = int(output_chars)
        self.budget[1] = False
        result = {'t': 'done', 'ok': True, 'exc_type': None, 'exc_message': None,
                  'traceback': ''}
        saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = self.stdout, self.stderr
        try:
            exec(compile(code, '<model>', 'exec'), self.namespace)
        except BaseException as exc:  # noqa: B036 - every failure of model code is reported
            result.update(self._describe(exc, code))
        finally:
            sys.stdout, sys.stderr = saved
        try:
            self.stdout.flush()
            self.stderr.flush()
        except (TypeError, ValueError):
            pass  # unencodable output was already counted against the budget
        result['truncated'] = self.budget[1]
        return result

    @staticmethod
    def _describe(exc, code):
        lines = code.splitlines()
        frames = []
        tb = exc.__traceback__
        while tb is not None:
            frame_code = tb.tb_frame.f_code
            if frame_code.co_filename == '<model>':
                frames.append((tb.tb_lineno, frame_code.co_name))
            tb = tb.tb_next
        if isinstance(exc, SyntaxError) and exc.filename == '<model>':
            frames.append((exc.lineno or 0, '<module>'))
        out = ['Traceback (most recent call last):']
        for lineno, func in frames:
            out.append(f'  File "<model>", line {lineno}, in {func}')
            if 0 < lineno <= len(lines):
                out.append('    ' + lines[lineno - 1].strip())
        exc_type = type(exc).__name__
        try:
            message = str(exc)
        except BaseException:  # noqa: B036 - a model-defined __str__ may raise anything
            message = '<unprintable message>'
        message = str(message)[:_MAX_TEXT]
        exc_type = str(exc_type)[:200]
        out.append(f'{exc_type}: {message}' if message else exc_type)
        exc.__traceback__ = None
        text = '\n'.join(out) + '\n'
        if len(text) > _MAX_TEXT * 2:
            text = text[:_MAX_TEXT] + '\n  ...\n' + text[-_MAX_TEXT:]
        return {'ok': False, 'exc_type': exc_type, 'exc_message': message, 'traceback': text}


_real_import = builtins.__import__


def main(argv):
    """Set up the sandbox, then serve run requests until the parent says exit."""
    fd = int(argv[1])
    config = json.loads(argv[2])
    for path in config['extra_sys_path']:
        sys.path.append(path)
    started = time.monotonic()
    # Import the allowed modules before the filesystem closes (and so runs start warm).
    for name in config['preload']:
        try:
            _real_import(name)
        except ImportError:
            continue  # not installed: importing it later fails with a clear ImportError
    sock = socket.socket(fileno=fd)
    channel = Channel(sock)
    runtime = Runtime(channel, config)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write raises OSError instead
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    layers = apply_sandbox(config)
    channel.send({'t': 'ready', 'pid': os.getpid(), 'layers': layers,
                  'start_s': time.monotonic() - started})
    while True:
        try:
            request = channel.recv()
        except EOFError:
            return 0
        if request.get('t') == 'run':
            channel.send(runtime.run(request['code'], request['output_chars']))
        elif request.get('t') == 'exit':
            return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
