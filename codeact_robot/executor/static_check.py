"""Static checks of the model's code, run on the trusted side before anything executes.

Defence in depth only: the OS sandbox of the child is the boundary. The checks give the model
clear messages for the things it must not do, e.g.::

    >>> check_code('import os')
    ["import of 'os' is not allowed; allowed modules: collections, dataclasses, ..."]
"""

from __future__ import annotations

import ast
import string

ALLOWED_MODULES: frozenset[str] = frozenset({
    'math', 'cmath', 'numpy', 'itertools', 'collections', 'dataclasses', 'json', 're',
    'statistics', 'random', 'time', 'typing', 'functools', 'heapq', 'bisect', 'fractions',
})

FORBIDDEN_NAMES: frozenset[str] = frozenset({
    'eval', 'exec', 'compile', 'open', '__import__', 'globals', 'locals', 'vars', 'input',
    'breakpoint', 'help', 'exit', 'quit', 'memoryview', 'setattr', 'delattr', 'dir',
    '__builtins__', '__loader__', '__spec__', 'classmethod_descriptor', 'copyright', 'credits',
    'license',
})

#: Attributes that reach frames, code or the OS without a leading underscore.
FORBIDDEN_ATTRIBUTES: frozenset[str] = frozenset({
    'gi_frame', 'gi_code', 'gi_yieldfrom', 'cr_frame', 'cr_code', 'cr_await', 'ag_frame',
    'ag_code', 'ag_await', 'f_globals', 'f_locals', 'f_builtins', 'f_back', 'f_code',
    'tb_frame', 'tb_next', 'co_code', 'co_consts', 'func_globals', 'mro', 'format_map',
    'tofile', 'ctypes', 'ctypeslib', 'system', 'popen', 'fork', 'spawn', 'load', 'save',
    'savez', 'savez_compressed', 'savetxt', 'loadtxt', 'genfromtxt', 'fromfile', 'memmap',
    'fromregex', 'get_type_hints', 'ForwardRef', 'with_traceback', 'dump',
    # These evaluate string annotations with eval() (singledispatch's register does).
    'singledispatch', 'singledispatchmethod',
})

#: Special methods the model's classes may define (all run inside the child only).
ALLOWED_DUNDER_DEFS: frozenset[str] = frozenset({
    '__init__', '__post_init__', '__repr__', '__str__', '__eq__', '__ne__', '__lt__', '__le__',
    '__gt__', '__ge__', '__hash__', '__len__', '__iter__', '__next__', '__contains__',
    '__getitem__', '__add__', '__sub__', '__mul__', '__bool__', '__enter__', '__exit__',
})


#: Special attributes the model may read: plain strings, the usual way to report what failed
#: (``type(e).__name__``). ``__class__`` only on the way to one of them
#: (``e.__class__.__name__``): the class itself leads to its metaclass, bases and subclasses.
SAFE_DUNDER_READS: frozenset[str] = frozenset({
    '__name__', '__qualname__', '__doc__', '__module__'})

#: Names with one underscore that are public API: namedtuple's methods and fields.
SAFE_UNDERSCORE_NAMES: frozenset[str] = frozenset({
    '_asdict', '_replace', '_fields', '_make', '_field_defaults'})


def _is_super_call(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
        node.func.id == 'super'


class _Checker(ast.NodeVisitor):
    def __init__(self) -> None:
        self.problems: list[str] = []
        self._allowed: set[int] = set()  # ids of attribute nodes a parent has vetted

    def _add(self, node: ast.AST, message: str) -> None:
        line = getattr(node, 'lineno', None)
        text = f'line {line}: {message}' if line else message
        if text not in self.problems:
            self.problems.append(text)

    def _check_module(self, node: ast.AST, name: str | None, level: int = 0) -> None:
        root = (name or '').split('.')[0]
        if level or root not in ALLOWED_MODULES:
            shown = '.' * level + (name or '')
            self._add(node, f"import of '{shown}' is not allowed; allowed modules: "
                            + ', '.join(sorted(ALLOWED_MODULES)))
        elif any(part.startswith('_') for part in (name or '').split('.')):
            self._add(node, f"import of private module '{name}' is not allowed")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_module(node, alias.name)
            self._check_name(node, alias.asname or '')
        self.generic_visit(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self._check_module(node, node.module, node.level)
        for alias in node.names:
            if alias.name.startswith('_') or alias.name in FORBIDDEN_ATTRIBUTES:
                self._add(node, f"importing '{alias.name}' is not allowed")
            self._check_name(node, alias.asname or '')
        self.generic_visit(node)

    def _check_name(self, node: ast.AST, name: str) -> None:
        if name in FORBIDDEN_NAMES:
            self._add(node, f"'{name}' is not allowed")
        elif name.startswith('__'):
            self._add(node, f"names starting with '__' ('{name}') are not allowed")

    def visit_Name(self, node: ast.Name) -> None:
        self._check_name(node, node.id)

    def _vetted_dunder(self, node: ast.Attribute) -> bool:
        if not isinstance(node.ctx, ast.Load):
            return False
        if id(node) in self._allowed:
            return True
        if node.attr in SAFE_DUNDER_READS:
            if isinstance(node.value, ast.Attribute) and node.value.attr == '__class__':
                self._allowed.add(id(node.value))
            return True
        # super().__init__(...) and the other special methods a model's class may define
        return node.attr in ALLOWED_DUNDER_DEFS and _is_super_call(node.value)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr.startswith('__') and node.attr.endswith('__') and self._vetted_dunder(node):
            pass
        elif node.attr in SAFE_UNDERSCORE_NAMES and isinstance(node.ctx, ast.Load):
            pass
        elif node.attr.startswith('_'):
            self._add(node, f"access to private or special attribute '.{node.attr}' is not "
                            'allowed')
        elif node.attr in FORBIDDEN_ATTRIBUTES:
            self._add(node, f"attribute '.{node.attr}' is not allowed")
        elif node.attr == 'format' and not _is_safe_format_literal(node.value):
            self._add(node, "'.format' is only allowed on a string literal without attribute "
                            'access in its fields; use an f-string')
        self.generic_visit(node)

    def _check_def(self, node: ast.AST, name: str) -> None:
        if name.startswith('__') and name not in ALLOWED_DUNDER_DEFS:
            self._add(node, f"defining '{name}' is not allowed")
        elif name in FORBIDDEN_NAMES:
            self._add(node, f"defining '{name}' is not allowed")

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._check_def(node, node.name)
        self.generic_visit(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._check_def(node, node.name)
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._check_def(node, node.name)
        for keyword in node.keywords:
            if keyword.arg == 'metaclass':
                self._add(node, 'metaclasses are not allowed')
        self.generic_visit(node)

    def visit_arg(self, node: ast.arg) -> None:
        self._check_name(node, node.arg)
        self.generic_visit(node)

    def visit_keyword(self, node: ast.keyword) -> None:
        if node.arg is not None and node.arg.startswith('__'):
            self._add(node, f"keyword '{node.arg}' is not allowed")
        self.generic_visit(node)

    def visit_MatchClass(self, node: ast.MatchClass) -> None:
        for attr in node.kwd_attrs:
            if attr.startswith('_') or attr in FORBIDDEN_ATTRIBUTES:
                self._add(node, f"matching on attribute '{attr}' is not allowed")
        self.generic_visit(node)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.name:
            self._check_name(node, node.name)
        self.generic_visit(node)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name:
            self._check_name(node, node.name)
        self.generic_visit(node)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        if node.rest:
            self._check_name(node, node.rest)
        self.generic_visit(node)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self._check_name(node, node.name)
        self.generic_visit(node)

    def visit_Global(self, node: ast.Global) -> None:
        for name in node.names:
            self._check_name(node, name)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        for name in node.names:
            self._check_name(node, name)


def _safe_format_fields(text: str, depth: int = 0) -> bool:
    if depth > 2:
        return False
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError:
        return False
    for _, field_name, spec, _ in fields:
        if field_name and ('.' in field_name or '[' in field_name):
            return False
        if spec and '{' in spec and not _safe_format_fields(spec, depth + 1):
            return False
    return True


def _is_safe_format_literal(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and \
        _safe_format_fields(node.value)


def check_code(code: str, max_chars: int = 64_000) -> list[str]:
    """Return human-readable problems with the code; empty when it may run."""
    if not isinstance(code, str):
        return ['code must be a string']
    if len(code) > max_chars:
        return [f'code is too long ({len(code)} characters, at most {max_chars})']
    if '\x00' in code:
        return ['code contains a NUL character']
    try:
        tree = ast.parse(code, filename='<model>', mode='exec')
    except SyntaxError as exc:
        return [f'line {exc.lineno}: syntax error: {exc.msg}']
    except (RecursionError, MemoryError, ValueError) as exc:
        return [f'code could not be parsed: {type(exc).__name__}']
    checker = _Checker()
    try:
        checker.visit(tree)
    except RecursionError:
        return ['code is nested too deeply']
    return checker.problems
