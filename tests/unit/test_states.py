"""The streaming state checker (domain/states.py) against Python's json, chunk by chunk."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from teamgate.domain.states import MAX_DEPTH, JsonChecker, JsonError, check_json_bytes, runs
from teamgate.errors import Invalid
from teamgate.services.context import ServiceContext
from teamgate.services.units import validate_json
from teamgate.storage.blobs import FilesystemBlobStore
from teamgate.storage.db.engine import Database, database_url
from tests.storage.conftest import put


def _refuse(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def reference(data: bytes, *, require_object: bool = False) -> bool:
    """What the checker must accept: Python's json over strict UTF-8, without NaN/Infinity."""
    try:
        text = data.decode("utf-8")
        # parse_int/parse_float keep the digits-limit of int() out of the comparison
        value = json.loads(text, parse_constant=_refuse, parse_int=len, parse_float=len)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, dict) or not require_object


def accepts(data: bytes, *, chunk: int = 1 << 20, require_object: bool = False) -> bool:
    try:
        check_json_bytes(data, chunk=chunk, require_object=require_object)
    except JsonError:
        return False
    return True


def agree(data: bytes, chunks: list[int]) -> None:
    for require_object in (False, True):
        expected = reference(data, require_object=require_object)
        for chunk in chunks:
            got = accepts(data, chunk=chunk, require_object=require_object)
            assert got == expected, (data, chunk, require_object)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=40,
)
layouts = st.sampled_from(
    [
        {},
        {"indent": 2},
        {"separators": (",", ":")},
        {"indent": "\t", "ensure_ascii": False},
        {"ensure_ascii": False, "separators": (" ,\r\n", " : ")},
    ]
)
chunk_sizes = st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=3)
JSONISH = '{}[]:,"\\/ 0123456789-+.eEtrufalsnNIiy\t\n\x01\x7fé\u2028'


@pytest.fixture(scope="module", autouse=True)
def compiled_patterns() -> None:
    """Compile the checker's patterns before Hypothesis times the first example."""
    runs()


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(json_values, layouts, chunk_sizes)
def test_every_document_json_writes_is_accepted(value: Any, layout: Any, chunks: list[int]) -> None:
    data = json.dumps(value, **layout).encode()
    agree(data, [*chunks, 1 << 20])
    assert accepts(json.dumps({"v": value}, **layout).encode(), require_object=True)


@settings(max_examples=400)
@given(json_values, st.data(), chunk_sizes)
def test_mutated_documents_agree_with_json(
    value: Any, data: st.DataObject, chunks: list[int]
) -> None:
    text = bytearray(json.dumps({"v": value}).encode())
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(text)))
        how = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        byte = data.draw(st.sampled_from(JSONISH.encode()))
        if how == "insert":
            text[at:at] = bytes([byte])
        elif at < len(text):
            text[at : at + 1] = b"" if how == "delete" else bytes([byte])
    agree(bytes(text), [*chunks, 1 << 20])


@settings(max_examples=600)
@given(st.text(alphabet=JSONISH, max_size=30), chunk_sizes)
@example("[1,]", [1])
@example('{"a":1 "b":2}', [2])
@example("-", [1])
@example("01", [1])
@example("1.e5", [1])
@example('"\\u12G4"', [3])
@example("tru", [2])
@example("[] ", [1])
def test_jsonish_text_agrees_with_json(text: str, chunks: list[int]) -> None:
    agree(text.encode(), [*chunks, 1 << 20])


@settings(max_examples=300)
@given(st.binary(max_size=24), chunk_sizes)
def test_arbitrary_bytes_agree_with_json(data: bytes, chunks: list[int]) -> None:
    agree(data, [*chunks, 1 << 20])


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"a": NaN}', "NaN and Infinity"),
        (b'{"a": [1, Infinity]}', "NaN and Infinity"),
        (b'{"a": -Infinity}', "NaN and Infinity"),
        (b'\xef\xbb\xbf{"version": 4}', "byte order mark"),
        (b'{"a": "\xff"}', "UTF-8"),
        (b'{"a": "\xed\xa0\x80"}', "UTF-8"),  # an encoded surrogate, which json.loads(bytes) takes
        (b'{"a": "caf\xc3"}', "UTF-8"),
        (b"[]", "JSON object"),
        (b'"text"', "JSON object"),
        (b"null", "JSON object"),
        (b"", "empty"),
        (b"   ", "ends too early"),
        (b'{"a": 1', "ends too early"),
        (b'{"a": "open', "not closed"),
        (b'{"a": 1} {}', "extra data"),
        (b'{"a": "tab\there"}', "control character"),
    ],
)
def test_special_cases_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    for chunk in (1, 2, 3, 1 << 20):
        with pytest.raises(JsonError) as caught:
            check_json_bytes(data, chunk=chunk)
        assert reason in str(caught.value), (chunk, caught.value)


def nested(depth: int) -> bytes:
    inner = b"[" * (depth - 1) + b"]" * (depth - 1)
    return b'{"a":' + inner + b"}" if depth > 1 else b"{}"


@pytest.mark.parametrize("chunk", [1, 7, 1 << 20])
def test_depth_is_bounded(chunk: int) -> None:
    check_json_bytes(nested(MAX_DEPTH), chunk=chunk)
    with pytest.raises(JsonError, match=f"more than {MAX_DEPTH} deep"):
        check_json_bytes(nested(MAX_DEPTH + 1), chunk=chunk)
    with pytest.raises(JsonError, match="deep"):  # json.loads raises RecursionError here
        check_json_bytes(b'{"a":' + b'{"b":' * 100_000 + b"1" + b"}" * 100_001, chunk=chunk)


def peak_while_checking(data: bytes, chunk: int = 1 << 20) -> int:
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    checker = JsonChecker()
    tracemalloc.start()
    try:
        for piece in pieces:
            checker.feed(piece)
        checker.close()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "data",
    [
        b'{"a":[' + b"{}," * (3 << 20) + b"{}]}",  # json.loads made ~300 MB of dicts of this
        b'{"a":[' + b'[{"k":[1,{}]}],' * (1 << 19) + b"[]]}",
        b'{"a":"' + b"x" * (9 << 20) + b'"}',  # one string longer than many chunks
    ],
    ids=["empty-objects", "nested", "long-string"],
)
def test_memory_stays_within_a_few_chunks(data: bytes) -> None:
    assert peak_while_checking(data) < 4 << 20  # chunks of 1 MiB; the documents are 9 MiB


def test_the_server_checks_a_stored_state_in_bounded_memory(tmp_path: Path) -> None:
    """units.validate_json, as a state write runs it: over the blob store, never whole."""
    db = Database(database_url(str(tmp_path / "torc.db")))
    store = FilesystemBlobStore(tmp_path / "blobs")
    ctx = ServiceContext(db=db, enforce=False, blobs=store)
    try:
        good = put(store, "units/new/good.tfstate", b'{"a":[' + b"{}," * (3 << 20) + b"{}]}")
        bad = put(store, "units/new/bad.tfstate", b'{"a":[' + b"{}," * (3 << 20) + b"NaN]}")
        tracemalloc.start()
        try:
            validate_json(ctx, good)  # json.loads held ~250 MB for this 9 MiB state
            with pytest.raises(Invalid, match="NaN and Infinity"):
                validate_json(ctx, bad)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 4 << 20
    finally:
        db.dispose()
