"""Find the Python code in a model reply: fenced blocks of any flavour, or bare code."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

# An opening fence (``` or ~~~, 3 or more), an optional info string, the body, and the same
# fence closing it -- or the end of the text, when generation stopped inside the block.
_FENCE = re.compile(
    r'^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)\n(?P<body>.*?)'
    r'(?:^[ \t]*(?P=fence)[ \t]*$|\Z)',
    re.DOTALL | re.MULTILINE)
# A one-line block: ```python print(1)```
_INLINE_FENCE = re.compile(r'```[ \t]*(?:python|py)?[ \t]+(?P<body>[^`\n]+?)```')
_PYTHON_TAGS = {'', 'python', 'py', 'python3', 'py3', 'ipython', 'code', 'tool_code'}
_NOT_CODE_TAGS = {'output', 'observation', 'text', 'console', 'json', 'yaml', 'bash', 'sh',
                  'shell', 'plaintext', 'txt', 'result'}
_CODE_START = re.compile(
    r'^(?:[A-Za-z_][\w.]*\s*(?:\(|=|\+=|-=|\[)|(?:for|while|if|try|with|def|import|from|'
    r'print|return|raise|pass|r|result)\b|#)')


@dataclass(frozen=True)
class ExtractedCode:
    """The code of one reply and how it was found."""

    code: str
    blocks: int  # number of fenced blocks joined (0 for bare code)
    source: str  # 'fenced', 'bare' or 'none'

    def __bool__(self) -> bool:
        return bool(self.code.strip())


def extract_code(reply: str) -> ExtractedCode:
    """Return the Python code of a model reply.

    Fenced blocks (```python, ```py, bare ```, ~~~) are joined in order; blocks tagged as
    output or another language are ignored when Python blocks exist. Without fences, the
    longest run of lines that parses as Python and calls something is taken as bare code.
    """
    text = reply.replace('\r\n', '\n')
    python_blocks: list[str] = []
    other_blocks: list[str] = []
    for m in _FENCE.finditer(text):
        tag = (m.group('info').strip().split() or [''])[0].lower()
        body = _dedent(m.group('body'))
        if not body.strip():
            continue
        if tag in _PYTHON_TAGS:
            python_blocks.append(body)
        elif tag not in _NOT_CODE_TAGS:
            other_blocks.append(body)
    blocks = python_blocks or [b for b in other_blocks if _parses(b)]
    if blocks:
        return ExtractedCode('\n\n'.join(b.rstrip() for b in blocks) + '\n', len(blocks),
                             'fenced')
    inline = [m.group('body').strip() for m in _INLINE_FENCE.finditer(text)]
    inline = [b for b in inline if _parses(b)]
    if inline:
        return ExtractedCode('\n'.join(inline) + '\n', len(inline), 'fenced')
    bare = _bare_code(text)
    if bare:
        return ExtractedCode(bare, 0, 'bare')
    return ExtractedCode('', 0, 'none')


def _dedent(body: str) -> str:
    lines = body.split('\n')
    indents = [len(ln) - len(ln.lstrip()) for ln in lines if ln.strip()]
    cut = min(indents, default=0)
    return '\n'.join(ln[cut:] for ln in lines)


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def _has_call(code: str) -> bool:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    return any(isinstance(n, ast.Call) for n in ast.walk(tree))


def _bare_code(text: str) -> str:
    """Return the longest run of lines that starts like code, parses and calls something."""
    lines = text.split('\n')
    best = ''
    for start, line in enumerate(lines):
        if not _CODE_START.match(line) or line.startswith((' ', '\t')):
            continue
        # Grow the run while it still parses; prose ends it.
        for end in range(len(lines), start, -1):
            chunk = '\n'.join(lines[start:end]).strip('\n')
            if len(chunk) <= len(best):
                break
            if _parses(chunk) and _has_call(chunk):
                best = chunk
                break
    return best + '\n' if best else ''


def close_open_fence(reply: str) -> str:
    """Append a closing fence when the reply ends inside a block (cut by a stop string)."""
    fences = [m for m in re.finditer(r'^[ \t]*(`{3,}|~{3,})', reply, re.MULTILINE)]
    if len(fences) % 2 == 1:
        return reply.rstrip('\n') + '\n' + fences[-1].group(1)
    return reply
