"""Check that a Terraform state is a JSON object, reading it in chunks and building nothing.

`json.loads` builds the whole tree: a 32 MiB state of `{}` objects became ~800 MB of dicts.
`check_json` is a JSON syntax checker with an explicit stack instead: memory is one chunk,
the longest number (rarely more than a few bytes) and one byte per level of nesting; time is
linear in the input. Regular expressions take runs of values (strings, numbers, `{}`, and
containers up to LEVELS deep) in one call each, so the Python loop turns only where a run
ends: at deeper nesting, and at a chunk's end.

Stricter than Python's `json`, as Terraform writes it: no NaN or Infinity, no byte order mark,
strict UTF-8 (no encoded surrogates), and a bounded depth.
"""

from __future__ import annotations

import codecs
import functools
import re
from collections.abc import Iterable

MAX_DEPTH = 512  # Terraform's states nest about ten levels; json.loads fails near 1000
CHUNK = 1 << 20

_WS = rb"[ \t\n\r]*+"
_STRING_BODY = rb'(?:[^"\\\x00-\x1f]++|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*+'
_STRING = rb'"' + _STRING_BODY + rb'"'
_NUMBER = rb"-?+(?:0|[1-9][0-9]*+)(?:\.[0-9]++)?+(?:[eE][-+]?+[0-9]++)?+"
_ENDED = rb"(?=" + _WS + rb"[,\]}])"  # a value is complete only when its delimiter is seen
LEVELS = 5  # containers a run may take in one match, below the stack's depth


def _value(level: int) -> bytes:
    """A JSON value with at most `level` levels of non-empty containers in it.

    Each element is followed by a comma (not before the closing bracket) or by the closing
    bracket itself, so an element's pattern appears once and the text grows twofold a level.
    """
    if level == 0:
        inner = rb"\{" + _WS + rb"\}|\[" + _WS + rb"\]"
    else:
        below = _value(level - 1)
        item = _WS + below + _WS
        member = _WS + _STRING + _WS + rb":" + item
        inner = (
            rb"\[(?:" + item + rb"(?:,(?!" + _WS + rb"\])|(?=\])))*+" + _WS + rb"\]"
            rb"|\{(?:" + member + rb"(?:,(?!" + _WS + rb"\})|(?=\})))*+" + _WS + rb"\}"
        )
    return rb"(?>" + _STRING + rb"|" + _NUMBER + rb"|true|false|null|" + inner + rb")"


@functools.cache
def runs(level: int = LEVELS) -> tuple[re.Pattern[bytes], re.Pattern[bytes]]:
    """Patterns for a run of array elements and of object members, each one complete.

    Compiled at the first state checked, not at import: the nested pattern takes about half a
    second to compile, which every server start and CLI would otherwise pay.
    """
    element = _value(level) + _ENDED
    member = _STRING + _WS + rb":" + _WS + element
    more = _WS + rb"," + _WS
    return (
        re.compile(element + rb"(?:" + more + element + rb")*+"),
        re.compile(member + rb"(?:" + more + member + rb")*+"),
    )


WS = re.compile(_WS)
STRING_BODY = re.compile(_STRING_BODY)
SCALAR = re.compile(rb"(?:" + _NUMBER + rb"|true|false|null)")
TOKEN_TAIL = re.compile(rb"[-+.0-9a-zA-Z]*+")  # bytes that could still extend a number or word
NOT_NUMBERS = re.compile(rb"-?(?:NaN|Infinity)")

# What the checker expects next.
VALUE, ARRAY_FIRST, KEY, OBJECT_FIRST, COLON, AFTER, IN_STRING, END = range(8)
OBJECT, ARRAY = ord("{"), ord("[")
BOM = codecs.BOM_UTF8


class JsonError(ValueError):
    """The input is not an acceptable JSON document; `offset` is the byte where it went wrong."""

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(f"{reason} (at byte {offset})")
        self.reason = reason
        self.offset = offset


class NeedMore(Exception):
    """The buffer ends inside a token: wait for the next chunk."""


class JsonChecker:
    """Feed chunks with `feed`, then call `close`; either raises `JsonError` at the first fault."""

    def __init__(self, *, max_depth: int = MAX_DEPTH, require_object: bool = True) -> None:
        self.max_depth = max_depth
        self.require_object = require_object
        self.array_run, self.object_run = runs()
        self.stack = bytearray()
        self.state = VALUE
        self.after_string = AFTER  # where a string split over chunks continues
        self.buf = b""
        self.pos = 0
        self.base = 0  # offset of buf[0] in the whole input
        self.wanted = 0  # gather this many bytes before scanning a long token again
        self.pending: list[bytes] = []
        self.final = False
        self.decoder = codecs.getincrementaldecoder("utf-8")("strict")

    def feed(self, chunk: bytes) -> None:
        self._check_utf8(chunk, final=False)
        self.pending.append(chunk)
        if len(self.buf) - self.pos + sum(map(len, self.pending)) < self.wanted:
            return  # a token longer than a chunk: rescanning it for every chunk is quadratic
        self._scan(final=False)

    def close(self) -> None:
        self._check_utf8(b"", final=True)
        self._scan(final=True)
        if self.state != END:
            size = self.base + len(self.buf)
            if size == 0:
                raise JsonError("the document is empty", 0)
            if self.state == IN_STRING:
                raise JsonError("a string is not closed", size)
            raise JsonError("the document ends too early", size)

    def _check_utf8(self, chunk: bytes, *, final: bool) -> None:
        held = len(self.decoder.getstate()[0])  # bytes of a character split over chunks
        try:
            self.decoder.decode(chunk, final)
        except UnicodeDecodeError as exc:
            seen = self.base + len(self.buf) + sum(map(len, self.pending)) - held
            raise JsonError("the document is not valid UTF-8", seen + exc.start) from None

    def _scan(self, *, final: bool) -> None:
        self.base += self.pos
        self.buf = b"".join([self.buf[self.pos :], *self.pending])
        self.pending.clear()
        self.pos = 0
        self.final = final
        try:
            while self.pos < len(self.buf):
                self._step()
        except NeedMore:
            self.wanted = 2 * (len(self.buf) - self.pos)
            return
        self.wanted = 0

    def _fail(self, reason: str, pos: int | None = None) -> JsonError:
        at = self.pos if pos is None else pos
        if self.base + at == 0 and self.buf.startswith(BOM):
            reason = "the document starts with a UTF-8 byte order mark (BOM); save it without one"
        elif NOT_NUMBERS.match(self.buf, at):
            reason = "NaN and Infinity are not JSON numbers"
        return JsonError(reason, self.base + at)

    def _step(self) -> None:
        state = self.state
        if state == IN_STRING:  # no whitespace skipping: inside a string it is content
            self._string_rest()
            return
        self.pos = WS.match(self.buf, self.pos).end()  # type: ignore[union-attr]
        if self.pos == len(self.buf):
            return
        if state in (VALUE, ARRAY_FIRST):
            self._value()
        elif state in (KEY, OBJECT_FIRST):
            self._key()
        elif state == COLON:
            if self.buf[self.pos] != ord(":"):
                raise self._fail("expected ':' after an object key")
            self.pos += 1
            self.state = VALUE
        elif state == AFTER:
            self._after()
        else:
            raise self._fail("extra data after the JSON document")

    def _value(self) -> None:
        byte = self.buf[self.pos]
        if byte == BOM[0] and self.base + self.pos == 0 and len(self.buf) < 3 and not self.final:
            raise NeedMore  # to tell a byte order mark by its three bytes
        if not self.stack and self.require_object and byte != OBJECT:
            raise self._fail("the document must be a JSON object ({...})")
        if self.stack and self.stack[-1] == ARRAY and self._run(self.array_run):
            return  # (a run is tried only where it cannot pass the depth limit)
        if byte in (OBJECT, ARRAY):
            self._open(byte)
        elif byte == ord("]") and self.state == ARRAY_FIRST:
            self._close()
        elif byte == ord('"'):
            self.pos += 1
            self.after_string = AFTER
            self._string_rest()
        else:
            self._scalar()

    def _key(self) -> None:
        if self._run(self.object_run):
            return
        byte = self.buf[self.pos]
        if byte == ord("}") and self.state == OBJECT_FIRST:
            self._close()
        elif byte == ord('"'):
            self.pos += 1
            self.after_string = COLON
            self._string_rest()
        else:
            raise self._fail("expected a string as an object key")

    def _after(self) -> None:
        byte = self.buf[self.pos]
        if not self.stack:
            raise self._fail("extra data after the JSON document")
        if byte == ord(","):
            self.pos += 1
            self.state = KEY if self.stack[-1] == OBJECT else VALUE
        elif byte == self.stack[-1] + 2:  # '{' + 2 is '}', '[' + 2 is ']'
            self._close()
        else:
            raise self._fail("expected ',' or the end of the object or array")

    def _run(self, pattern: re.Pattern[bytes]) -> bool:
        """Take a run of flat values (or members) at once; False if none starts here."""
        if len(self.stack) + LEVELS + 1 > self.max_depth:
            return False  # a run does not count depth: near the limit go token by token
        found = pattern.match(self.buf, self.pos)
        if found is None:
            return False
        self.pos = found.end()
        self.state = AFTER
        return True

    def _open(self, byte: int) -> None:
        if len(self.stack) >= self.max_depth:
            raise self._fail(f"objects and arrays are nested more than {self.max_depth} deep")
        self.stack.append(byte)
        self.pos += 1
        self.state = OBJECT_FIRST if byte == OBJECT else ARRAY_FIRST

    def _close(self) -> None:
        self.stack.pop()
        self.pos += 1
        self.state = AFTER if self.stack else END

    def _scalar(self) -> None:
        found = SCALAR.match(self.buf, self.pos)
        tail = TOKEN_TAIL.match(self.buf, self.pos).end()  # type: ignore[union-attr]
        if tail == len(self.buf) and not self.final and (found or tail - self.pos < 10):
            raise NeedMore  # the number or word may go on in the next chunk
        if found is None:
            raise self._fail("expected a value")
        self.pos = found.end()
        self.state = AFTER if self.stack else END

    def _string_rest(self) -> None:
        """Go through a string's characters, from inside it (after the opening quote)."""
        end = STRING_BODY.match(self.buf, self.pos).end()  # type: ignore[union-attr]
        if end < len(self.buf) and self.buf[end] == ord('"'):
            self.pos = end + 1
            self.state = self.after_string if self.stack else END
            return
        self.pos = end
        self.state = IN_STRING
        escape = self.buf[end:]
        if not self.final and (escape == b"" or (escape[:1] == b"\\" and len(escape) < 6)):
            raise NeedMore  # only a partial escape sequence is carried over
        if end == len(self.buf):
            raise self._fail("a string is not closed", end)
        raise self._fail("a string holds a control character or a bad escape", end)


def check_json(
    chunks: Iterable[bytes], *, max_depth: int = MAX_DEPTH, require_object: bool = True
) -> None:
    """Raise `JsonError` unless the chunks together are one JSON document (an object)."""
    checker = JsonChecker(max_depth=max_depth, require_object=require_object)
    for chunk in chunks:
        checker.feed(chunk)
    checker.close()


def check_json_bytes(
    data: bytes, *, max_depth: int = MAX_DEPTH, require_object: bool = True, chunk: int = CHUNK
) -> None:
    """`check_json` over bytes already in memory, `chunk` bytes at a time."""
    view = memoryview(data)
    pieces = (bytes(view[i : i + chunk]) for i in range(0, len(data), chunk))
    check_json(pieces, max_depth=max_depth, require_object=require_object)
