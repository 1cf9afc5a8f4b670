"""Trusted side of the child protocol: frames, plain-data codec, argument validation.

Frames are a 4-byte big-endian length and UTF-8 JSON. Values use JSON types plus three tagged
objects: ``{"$tuple": [...]}``, ``{"$dict": {...}}`` and, host to child only,
``{"$rec": "Pose", "f": {...}}`` for result dataclasses (their properties, like
``MoveResult.arrived``, are sent as fields). Nothing from the child is ever unpickled, called or
repr()'d: it is decoded JSON checked against the API's type hints.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import json
import select
import socket
import struct
import time
import types
import typing
from collections.abc import Callable
from typing import Any

HEADER = struct.Struct('>I')
MAX_FRAME_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 32


class ProtocolError(Exception):
    """The child sent something that is not a valid frame or message."""


class ChannelTimeout(TimeoutError):
    """No complete frame arrived before the deadline."""


class FrameReader:
    """Read length-prefixed JSON frames from a socket with deadlines (host side)."""

    def __init__(self, sock: socket.socket, max_frame: int = MAX_FRAME_BYTES) -> None:
        self._sock = sock
        self._buf = bytearray()
        self._max = max_frame

    @property
    def buffered(self) -> bool:
        """Return True if received bytes wait to be parsed."""
        return bool(self._buf)

    def _frame(self) -> dict[str, Any] | None:
        if len(self._buf) < HEADER.size:
            return None
        (size,) = HEADER.unpack_from(self._buf)
        if size > self._max:
            raise ProtocolError(f'frame of {size} bytes exceeds {self._max}')
        if len(self._buf) < HEADER.size + size:
            return None
        data = bytes(self._buf[HEADER.size:HEADER.size + size])
        del self._buf[:HEADER.size + size]
        try:
            message = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise ProtocolError(f'invalid JSON frame: {type(exc).__name__}') from exc
        if not isinstance(message, dict) or not isinstance(message.get('t'), str):
            raise ProtocolError('a frame must be an object with a "t" string')
        return message

    def read(self, deadline: float, extra: list[Any] | None = None,
             on_extra: Callable[[Any], None] | None = None) -> dict[str, Any]:
        """Return the next frame; raise ChannelTimeout at deadline, EOFError on close."""
        while True:
            message = self._frame()
            if message is not None:
                return message
            # Past the deadline, poll once more: take what already arrived (a spare child's
            # "ready"), but a child that keeps writing cannot hold the reader past it.
            remaining = deadline - time.monotonic()
            readable, _, _ = select.select([self._sock, *(extra or [])], [], [],
                                           max(0.0, remaining))
            if remaining <= 0.0:
                for item in readable:
                    if item is self._sock:
                        self._receive()
                message = self._frame()
                if message is not None:
                    return message
                raise ChannelTimeout('deadline reached')
            for item in readable:
                if item is not self._sock:
                    if on_extra is not None:
                        on_extra(item)
                    continue
                self._receive()

    def _receive(self) -> None:
        try:
            chunk = self._sock.recv(1 << 20)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            raise EOFError(str(exc)) from exc
        if not chunk:
            raise EOFError('child closed the channel')
        self._buf += chunk
        if len(self._buf) > self._max + HEADER.size:
            self._frame()  # raises ProtocolError on an oversized header


def send_frame(sock: socket.socket, message: dict[str, Any], timeout: float = 5.0) -> None:
    """Send one frame on the non-blocking socket, within timeout (else TimeoutError).

    A child that stops reading cannot block the host.
    """
    body = json.dumps(message, separators=(',', ':'), allow_nan=True).encode()
    data = memoryview(HEADER.pack(len(body)) + body)
    deadline = time.monotonic() + timeout
    while data:
        try:
            sent = sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        data = data[sent:]
        if data:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError('the child stopped reading')
            select.select([], [sock], [], remaining)


# ----------------------------------------------------------------------------- values

def decode_arg(value: Any, depth: int = 0) -> Any:
    """Rebuild an argument sent by the child: plain data only, records are refused."""
    if depth > MAX_DEPTH:
        raise TypeError('argument is nested too deeply')
    if type(value) is str:
        try:
            value.encode('utf-8')
        except UnicodeEncodeError:
            raise TypeError('strings must be valid Unicode (no lone surrogates)') from None
        return value
    if value is None or type(value) in (bool, int, float):
        return value
    if type(value) is list:
        return [decode_arg(v, depth + 1) for v in value]
    if type(value) is dict:
        if set(value) == {'$tuple'} and type(value['$tuple']) is list:
            return tuple(decode_arg(v, depth + 1) for v in value['$tuple'])
        if set(value) == {'$dict'} and type(value['$dict']) is dict:
            return {decode_arg(k, depth + 1): decode_arg(v, depth + 1)
                    for k, v in value['$dict'].items()}
    raise TypeError('arguments must be numbers, strings, booleans, None, lists, tuples or '
                    'dicts')


@functools.lru_cache(maxsize=256)
def _properties(cls: type) -> tuple[str, ...]:
    """Public properties of a result class (e.g. MoveResult.arrived), sent as fields."""
    return tuple(name for name, attr in inspect.getmembers(cls)
                 if isinstance(attr, property) and not name.startswith('_'))


def encode_result(value: Any, depth: int = 0) -> Any:
    """Encode a host API result for the child (dataclasses become read-only records)."""
    if depth > MAX_DEPTH:
        raise TypeError('result is nested too deeply')
    if value is None or type(value) in (bool, int, str):
        return value
    if isinstance(value, float):
        return float(value)
    if isinstance(value, enum.Enum):
        return encode_result(value.value, depth + 1)
    if isinstance(value, bool):  # subclasses of the plain types travel as the base type
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: encode_result(getattr(value, f.name), depth + 1)
                  for f in dataclasses.fields(value)}
        for name in _properties(type(value)):
            fields[name] = encode_result(getattr(value, name), depth + 1)
        return {'$rec': type(value).__name__, 'f': fields}
    if isinstance(value, list):
        return [encode_result(v, depth + 1) for v in value]
    if isinstance(value, tuple):
        return {'$tuple': [encode_result(v, depth + 1) for v in value]}
    if isinstance(value, dict):
        return {'$dict': {str(k): encode_result(v, depth + 1) for k, v in value.items()}}
    if hasattr(value, 'tolist') and hasattr(value, 'dtype'):  # numpy scalars/arrays
        return encode_result(value.tolist(), depth + 1)
    raise TypeError(f'result of type {type(value).__name__} cannot be sent to the sandbox')


def bounded(value: Any, max_chars: int = 200, max_items: int = 20, depth: int = 0) -> Any:
    """Return a copy of decoded plain data small enough to keep in records and transcripts.

    Strings longer than ``max_chars`` and containers longer than ``max_items`` are cut, with
    a note of what was left out; nesting below 4 levels becomes ``'...'``.
    """
    if isinstance(value, str):
        if len(value) <= max_chars:
            return value
        return value[:max_chars] + f'... [{len(value) - max_chars} more characters]'
    if depth >= 4 and isinstance(value, list | tuple | dict):
        return '...'
    if isinstance(value, list | tuple):
        items = [bounded(v, max_chars, max_items, depth + 1) for v in value[:max_items]]
        if len(value) > max_items:
            items.append(f'... [{len(value) - max_items} more items]')
        return type(value)(items)
    if isinstance(value, dict):
        out = {bounded(k, max_chars, max_items, depth + 1): bounded(v, max_chars, max_items,
                                                                    depth + 1)
               for k, v in list(value.items())[:max_items]}
        if len(value) > max_items:
            out['...'] = f'[{len(value) - max_items} more items]'
        return out
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f'<integer of {value.bit_length()} bits>'
    return value


def summarize(value: Any, limit: int = 200) -> str:
    """Return a short text of a trusted host-side value."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + '...'


def result_message(value: Any) -> str:
    """Return the robot's own words for a call's result ('' when the result has none)."""
    if isinstance(value, str):
        return value
    message = getattr(value, 'message', None)
    if isinstance(message, str):
        return message
    if isinstance(value, bool):
        return 'succeeded' if value else 'did not succeed'
    return ''


# -------------------------------------------------------------------------- validation

_NONE = type(None)


def _type_name(hint: Any) -> str:
    if hint is _NONE or hint is None:
        return 'None'
    return getattr(hint, '__name__', None) or str(hint).replace('typing.', '')


def conform(value: Any, hint: Any, where: str) -> Any:
    """Return value checked (and lists normalised) against a type hint; raise TypeError."""
    if hint is Any or hint is inspect.Parameter.empty:
        return value
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return conform(value, option, where)
            except TypeError:
                continue
        raise TypeError(f'{where} must be {_type_name(hint)}, not {type(value).__name__}')
    if hint is None or hint is _NONE:
        if value is None:
            return None
    elif hint is float:
        if type(value) in (int, float):
            try:
                return float(value)
            except OverflowError:
                raise ValueError(f'{where} is too large for a float (an integer of '
                                 f'{value.bit_length()} bits)') from None
    elif hint in (int, str, bool):
        if type(value) is hint:
            return value
    elif origin in (list, tuple) or hint in (list, tuple):
        if type(value) in (list, tuple):
            args = typing.get_args(hint)
            if origin is tuple and args and args[-1] is not Ellipsis:
                if len(args) != len(value):
                    raise TypeError(f'{where} must have {len(args)} items')
                items = [conform(v, a, where) for v, a in zip(value, args, strict=True)]
            else:
                item = args[0] if args else Any
                items = [conform(v, item, where) for v in value]
            return tuple(items) if (origin or hint) is tuple else items
    elif origin is dict or hint is dict:
        if type(value) is dict:
            args = typing.get_args(hint) or (Any, Any)
            return {conform(k, args[0], where): conform(v, args[1], where)
                    for k, v in value.items()}
    else:
        raise TypeError(f'{where}: unsupported parameter type {_type_name(hint)}')
    raise TypeError(f'{where} must be {_type_name(hint)}, not {type(value).__name__}')


class Signature:
    """The checked call signature of one exposed function."""

    def __init__(self, name: str, func: Callable[..., Any], hint_source: Any = None) -> None:
        self.name = name
        self.func = func
        self.signature = inspect.signature(func)
        try:
            self.hints = typing.get_type_hints(hint_source or func)
        except (NameError, TypeError, AttributeError):
            self.hints = {}  # unresolvable hints: plain data is still enforced by decode_arg
        doc = inspect.getdoc(hint_source or func) or ''
        self.doc = doc

    def bind(self, args: list[Any], kwargs: dict[str, Any]) -> inspect.BoundArguments:
        """Bind and type-check plain-data arguments.

        Raises:
            TypeError: wrong arguments or types; ValueError: a value no parameter can hold
                (e.g. an integer too large for a float). Both carry a message for the model;
                nothing else escapes, whatever the child sent.
        """
        try:
            return self._bind(args, kwargs)
        except RecursionError:
            raise ValueError(f'{self.name}(): arguments are nested too deeply') from None

    def _bind(self, args: list[Any], kwargs: dict[str, Any]) -> inspect.BoundArguments:
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f'{self.name}(): {exc}') from None
        for pname, value in list(bound.arguments.items()):
            hint = self.hints.get(pname, Any)
            param = self.signature.parameters[pname]
            if param.kind is inspect.Parameter.VAR_POSITIONAL:
                bound.arguments[pname] = tuple(
                    conform(v, hint, f"{self.name}() argument '{pname}'") for v in value)
            elif param.kind is inspect.Parameter.VAR_KEYWORD:
                bound.arguments[pname] = {
                    k: conform(v, hint, f"{self.name}() argument '{k}'")
                    for k, v in value.items()}
            else:
                bound.arguments[pname] = conform(value, hint,
                                                 f"{self.name}() argument '{pname}'")
        return bound


