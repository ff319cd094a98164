"""Untrusted specs: whatever a caller sends, reading it either succeeds or is a SpecError
(a 400 naming a field), never another exception (a 500)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from teamgate.domain.workflows import SpecError, parse_spec

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "1:3", "0:1:0.25", "[1,2]", "['a','b']", "x_{i}", "{i:03d}", "{i:.2f}", "{i.__x}",
            "{i:q}", "${files.input.f}", "${files.output.f}", "${user_data.input.u}", "zip",
            "product", "a", "f", "u", "8g", "PT1M", "1e999:1", "5:1", "1:0:0", "{", "}", "",
        ]
    ),
    st.text(max_size=12),
)  # fmt: skip
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)
PARAMS = st.dictionaries(st.sampled_from(["i", "j", "1x", ""]), SCALARS, max_size=2)
JOB = st.fixed_dictionaries(
    {"name": st.sampled_from(["a", "b", "x_{i}", "y_{j}", "{i}"]) | SCALARS},
    optional={
        "command": SCALARS,
        "depends_on": st.lists(st.sampled_from(["a", "b", "x_{i}", "x_1"]) | SCALARS, max_size=3),
        "input_files": st.lists(st.sampled_from(["f", "g_{i}"]) | SCALARS, max_size=2),
        "output_files": st.lists(st.sampled_from(["f", "g_{i}"]) | SCALARS, max_size=2),
        "output_user_data": st.lists(st.sampled_from(["u"]) | SCALARS, max_size=2),
        "env": st.dictionaries(st.text(max_size=4), SCALARS, max_size=2) | SCALARS,
        "priority": SCALARS,
        "parameters": PARAMS | SCALARS,
        "parameter_mode": SCALARS,
        "use_parameters": st.lists(st.sampled_from(["i", "j"]) | SCALARS, max_size=2) | SCALARS,
        "resource_requirements": st.sampled_from(["r", "default"]) | SCALARS,
    },
)
SPEC = st.fixed_dictionaries(
    {"name": st.just("w") | SCALARS},
    optional={
        "jobs": st.lists(JOB, max_size=4) | JSON,
        "files": st.lists(
            st.fixed_dictionaries(
                {"name": st.sampled_from(["f", "g_{i}"]) | SCALARS, "path": SCALARS},
                optional={"parameters": PARAMS | SCALARS, "use_parameters": JSON},
            ),
            max_size=3,
        )
        | JSON,
        "user_data": st.lists(
            st.fixed_dictionaries({"name": st.just("u") | SCALARS}, optional={"data": JSON}),
            max_size=2,
        )
        | JSON,
        "parameters": PARAMS | JSON,
        "resource_requirements": st.lists(
            st.fixed_dictionaries(
                {"name": st.just("r") | SCALARS, "num_cpus": SCALARS, "memory": SCALARS},
                optional={"runtime": SCALARS},
            ),
            max_size=2,
        )
        | JSON,
    },
)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(SPEC)
def test_any_spec_is_read_or_refused_with_a_field(data: dict[str, Any]) -> None:
    try:
        parse_spec(data)
    except SpecError as exc:
        assert exc.message


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(JSON)
def test_any_json_value_is_read_or_refused(data: Any) -> None:
    try:
        parse_spec(data)
    except SpecError as exc:
        assert exc.message
