"""Finding the elements of a JSON array that a strict parser refused as a whole.

msgspec refuses a whole array when one element inside it is malformed (a bad
escape, a lone surrogate, nesting deeper than it recurses). A batch's valid
events must not be lost for one bad neighbour, so the edge falls back to this
scan: it follows only brackets, braces and strings, never recurses, and
returns each top-level element's bytes for the codec to judge one by one.
Where the array's own structure does not close (a truncated upload, stray
bytes after it), no element boundary can be trusted and it returns None: the
input as a whole is unreadable.
"""

from __future__ import annotations

import re

_WHITESPACE = b" \t\r\n"
# Strings are matched whole (possessively: no backtracking on long text), so
# brackets and commas inside them never count; a quote left over opens a
# string that never closes.
_TOKENS = re.compile(rb'(?P<string>"(?:[^"\\]++|\\.)*+")|(?P<open>")|[\[\]{},]', re.DOTALL)


def split_json_array(data: bytes) -> list[bytes] | None:
    """The raw bytes of each top-level element, or None if not a closed array."""
    text = data.strip(_WHITESPACE)
    if text[:1] != b"[" or text[-1:] != b"]":
        return None
    ends = _top_level_commas(text)
    if ends is None:
        return None
    starts = [1] + [end + 1 for end in ends]
    elements = [
        text[start:end].strip(_WHITESPACE)
        for start, end in zip(starts, [*ends, len(text) - 1], strict=True)
    ]
    return [] if elements == [b""] else elements


def _top_level_commas(text: bytes) -> list[int] | None:
    """Where the commas between elements stand; None if brackets do not balance."""
    commas: list[int] = []
    depth = 0
    for token in _TOKENS.finditer(text, 1, len(text) - 1):
        kind = token.group()[:1]
        if kind == b'"':
            if token.lastgroup == "open":
                return None  # a string that never closes
        elif kind in b"[{":
            depth += 1
        elif kind in b"]}":
            depth -= 1
            if depth < 0:
                return None
        elif depth == 0:
            commas.append(token.start())
    return None if depth != 0 else commas
