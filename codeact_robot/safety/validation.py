"""Argument validation: reject NaN, inf, out-of-range and wrongly typed values before motion."""

from __future__ import annotations

import math
from collections.abc import Iterable

from codeact_robot.api.errors import InvalidArgumentError


def check_number(name: str, value: object, low: float, high: float,
                 hint: str = '') -> float:
    """Return ``value`` as float if it is a finite real number in [low, high].

    Raises:
        InvalidArgumentError: with a message saying which argument, what was wrong, and the
            allowed range.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgumentError(
            f'{name} must be a number in [{low:g}, {high:g}], got {type(value).__name__} '
            f'{_short(value)}{hint}')
    v = float(value)
    if math.isnan(v):
        raise InvalidArgumentError(f'{name} is NaN; give a number in [{low:g}, {high:g}]{hint}')
    if math.isinf(v):
        raise InvalidArgumentError(
            f'{name} is infinite; give a number in [{low:g}, {high:g}]{hint}')
    if not low <= v <= high:
        raise InvalidArgumentError(f'{name}={v:g} is out of range [{low:g}, {high:g}]{hint}')
    return v


def check_optional_number(name: str, value: object, low: float, high: float,
                          hint: str = '') -> float | None:
    """Like check_number, but None passes through."""
    return None if value is None else check_number(name, value, low, high, hint)


def check_text(name: str, value: object, max_length: int = 200) -> str:
    """Return ``value`` if it is a str of at most ``max_length`` characters."""
    if not isinstance(value, str):
        raise InvalidArgumentError(f'{name} must be a string, got {type(value).__name__} '
                                   f'{_short(value)}')
    if len(value) > max_length:
        raise InvalidArgumentError(f'{name} is {len(value)} characters; at most {max_length}')
    return value


def check_names(name: str, value: object, known: Iterable[str]) -> list[str]:
    """Return ``value`` (None, a name, or a list of names) as a list of known names."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        raise InvalidArgumentError(f'{name} must be a list of names such as ["aisle 2"], got '
                                   f'{type(value).__name__}')
    if len(value) > 100:
        raise InvalidArgumentError(f'{name} has {len(value)} names; at most 100')
    known_list = sorted(known)
    by_key = {normalize_name(k): k for k in known_list}
    out: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise InvalidArgumentError(f'{name} must contain names (strings), got '
                                       f'{type(item).__name__} {_short(item)}')
        match = by_key.get(normalize_name(item))
        if match is None:
            raise InvalidArgumentError(f'unknown name {_short(item)} in {name}; known: '
                                       f'{", ".join(known_list)}')
        out.append(match)
    return out


def normalize_name(name: str) -> str:
    """Return a case- and spacing-insensitive key ("Aisle_2" == "aisle 2")."""
    return ' '.join(name.replace('_', ' ').lower().split())


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + '...'
