"""Session pages on the Arrow path hold exactly what the dict path (`records.shape`, flattened
the way dlt flattens nested objects) would have loaded, or are refused to that path.

Pages are drawn from a per-page layout (each key keeps one kind of value, as an API's documents
do) so that most reach the Arrow path; the foreign values that must not (lists, a key of mixed
kinds, a timestamp key of both dates and other text) are drawn on purpose as well."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa
import pytest
from dlt.common.normalizers.naming.snake_case import NamingConvention
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sources.wirelane.arrow_batches import NotTabular, Page, page_table, parsed_documents, read_page
from sources.wirelane.records import EXACT_KEYS, TIMESTAMP_KEYS, shape

NAMING = NamingConvention()
SCALE_STEP = Decimal("1e-9")  # decimals with at most 9 places closer than this are equal
# names that stay distinct once snake-cased (taxRate and tax_rate would collide, in dlt too)
SNAKE_DISTINCT = {NAMING.normalize_identifier(k): k for k in sorted(EXACT_KEYS | set(sorted(TIMESTAMP_KEYS)[:10]))}
KEY_NAMES = [*sorted(SNAKE_DISTINCT.values()), "email", "status", "x"]
KEYS = st.sampled_from(KEY_NAMES)
STAMPS = st.sampled_from(["2017-10-15T16:44:40+0200", "2026-03-29T02:30:00+0100", "1999-12-31T23:59:59-0930"])
VALUES = {
    "int": st.integers(min_value=-(2**63), max_value=2**63 - 1),
    "money": st.integers(min_value=-(10**12), max_value=10**12).map(lambda n: n / 1000),
    "float": st.floats(allow_nan=False, allow_infinity=False, width=64),
    "bool": st.booleans(),
    "text": st.text(max_size=12).filter(lambda s: not s[:1].isdigit()),
    "stamp": STAMPS,
}
LAYOUTS = st.recursive(
    st.sampled_from(sorted(VALUES)), lambda inner: st.dictionaries(KEYS, inner, min_size=1, max_size=4), max_leaves=12
)


@st.composite
def documents(draw: st.DrawFn, layout: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, kind in layout.items():
        presence = draw(st.sampled_from(["value", "value", "value", "null", "absent"]))
        if presence == "absent":
            continue
        if presence == "null":
            document[key] = None
        elif isinstance(kind, dict):
            document[key] = draw(documents(kind))
        else:
            document[key] = draw(VALUES[kind])
    return document


@st.composite
def pages(draw: st.DrawFn) -> list[dict[str, Any]]:
    layout = draw(st.dictionaries(KEYS, LAYOUTS, min_size=1, max_size=6))
    page = [draw(documents(layout)) for _ in range(draw(st.integers(min_value=1, max_value=6)))]
    # as the client hands them over: the API's bytes parsed by orjson
    parsed: list[dict[str, Any]] = orjson.loads(orjson.dumps(page))
    return parsed


def dict_path_row(document: dict[str, Any], prefix: tuple[str, ...] = ()) -> dict[str, Any]:
    """A shaped document flattened as dlt flattens it: `parent__child`, nulls left out."""
    row: dict[str, Any] = {}
    for key, value in document.items():
        if isinstance(value, dict):
            row.update(dict_path_row(value, (*prefix, key)))
        elif value is not None:
            row[NAMING.normalize_path(NAMING.make_path(*prefix, key))] = value
    return row


def assert_same_rows(page: list[dict[str, Any]]) -> bool:
    """True when the page took the Arrow path (and matched the dict path value for value)."""
    try:
        table = page_table(page, {"organization_id": "ORG"})
    except NotTabular:
        return False
    expected = [dict_path_row(shape(document, "ORG")) for document in page]
    loaded = [{k: v for k, v in row.items() if v is not None} for row in table.to_pylist()]
    assert set(table.column_names) == set().union(*expected)
    for want, got in zip(expected, loaded, strict=True):
        assert set(got) == set(want)
        for name, value in want.items():
            if isinstance(value, Decimal):
                # exact to the column's scale (decimal(38,9)), where the warehouse rounds either path
                assert type(got[name]) is Decimal and abs(got[name] - value) < SCALE_STEP, name
            elif isinstance(value, datetime):
                assert type(got[name]) is datetime and got[name] == value, name
            elif isinstance(value, bool) or isinstance(got[name], bool):
                assert got[name] is value, name
            else:  # ints beside floats under one key become floats, as dlt makes a double column
                assert got[name] == value, name
    return True


@settings(max_examples=300, deadline=None)
@given(pages())
# beyond decimal(38,9): Arrow's cast wrapped it round (found by this test in CI)
@example([{"actual_end": {"activation_date": {"amount": 3.402823672612209e29}}}])
def test_a_page_on_the_arrow_path_holds_what_the_dict_path_would(page: list[dict[str, Any]]) -> None:
    assert_same_rows(page)


# values Arrow's JSON reader and `pa.array` might read apart: integers beyond 64 bits, text
# that looks like a date or a time, odd keys, empty objects, both kinds of number under one key
AWKWARD = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**64 - 1),  # as far as orjson reads
    st.sampled_from(["2026-10-31", "2026-10-31T19:26:30", "2026-10-31 19:26:30Z", "12:00:00", "1", "", "é\u0000"]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.just({}),
    st.none(),
)
AWKWARD_PAGES = st.lists(
    st.dictionaries(
        st.sampled_from(["a", "b", "A", "a.b", "", "ä"]),
        st.one_of(AWKWARD, st.dictionaries(st.sampled_from(["x", "y"]), AWKWARD, max_size=2)),
        max_size=3,
    ),
    min_size=1,
    max_size=5,
)


def assert_parsed_like_pa_array(page: list[dict[str, Any]]) -> None:
    """What Arrow reads from the page's JSON is what `pa.array` makes of the parsed page, or
    nothing (and `pa.array` decides)."""
    parsed = parsed_documents(orjson.dumps(page))
    if parsed is not None:
        expected = pa.array(page)  # raises (and fails the test) where Arrow should have declined
        assert parsed.type == expected.type and parsed.equals(expected)


@settings(max_examples=300, deadline=None)
@example([{"kwh": 2**63}])  # beyond int64: `pa.array` refuses it, Arrow's reader makes a double
@example([{"a": {"x": 2**64 - 1}}, {"a": None}])
@example([{"update_date": "2026-10-31T19:26:30+0100"}, {"update_date": "2026-10-31"}])
@given(st.one_of(pages(), AWKWARD_PAGES.map(lambda page: orjson.loads(orjson.dumps(page)))))
def test_arrow_reads_a_page_from_its_json_as_pa_array_reads_the_parsed_page(page: list[dict[str, Any]]) -> None:
    assert_parsed_like_pa_array(page)
    parsed = parsed_documents(orjson.dumps(page))
    if parsed is not None:  # and the table made from it is the one made from the documents
        try:
            expected = page_table(page, {"organization_id": "ORG"})
        except NotTabular:
            with pytest.raises(NotTabular):
                page_table(parsed, {"organization_id": "ORG"})
        else:
            assert page_table(parsed, {"organization_id": "ORG"}).equals(expected)


def test_a_page_is_read_by_arrow_or_else_by_orjson_and_anything_else_is_left_to_the_client() -> None:
    body = orjson.dumps([{"session_id": "a", "status": "ok"}, {"session_id": "b", "kwh": 1.5}])
    page = read_page(body)
    assert isinstance(page, Page) and page.arrow is not None and page.documents is None and len(page) == 2
    assert page.column("session_id") == ["a", "b"] and page.column("kwh") == [None, 1.5]
    assert page.column("creation_date") == [None, None]  # a key no document has
    assert page.python() == orjson.loads(body)
    mixed = read_page(b'[{"status": "ok"}, {"status": 3}]')  # Arrow declines: orjson reads it
    assert isinstance(mixed, Page) and mixed.arrow is None and mixed.column("status") == ["ok", 3]
    assert read_page(b'{"error_code": 7}') == {"error_code": 7}  # not a list: for the client to refuse
    assert read_page(b"[]") == Page(b"[]", None, [])
    with pytest.raises(ValueError):  # malformed: the client retries
        read_page(b'[{"session_id": "a"')


@pytest.mark.parametrize(
    "page",
    [
        [{"status": "ok", "connectors": [{"id": 1}]}],  # a list: dlt makes a child table
        [{"status": "ok"}, {"status": 3}],  # one key, two kinds
        [{"location": {"city": "Köln"}}, {"location": "Köln"}],  # an object here, a string there
        [{"kwh": True}, {"kwh": 1}],
        [{"creation_date": "2017-10-15T16:44:40+0200"}, {"creation_date": "yesterday"}],  # dates and text
        [{"kwh": 10**40}],  # beyond int64
    ],
)
def test_pages_only_the_dict_path_models_are_refused(page: list[dict[str, Any]]) -> None:
    with pytest.raises(NotTabular):
        page_table(page, {"organization_id": "ORG"})


def test_nested_nulls_money_and_times_are_typed_as_the_dict_path_types_them() -> None:
    page: list[dict[str, Any]] = [
        {"session_id": "a", "kwh": 11.9, "total_price": {"grossAmount": 3, "currency": "EUR"}, "update_date": "2026-01-01T10:00:00+0100"},
        {"session_id": "b", "kwh": None, "total_price": None, "update_date": "2026-01-01T10:00:00-0230"},
        {"session_id": "c", "total_price": {"grossAmount": 0.1}, "update_date": "2026-07-01T00:00:00+0000"},
    ]  # fmt: skip
    assert assert_same_rows(page)
    table = page_table(page, {"organization_id": "ORG"})
    assert table.column("kwh").to_pylist() == [Decimal("11.9"), None, None]
    assert table.column("total_price__gross_amount").to_pylist() == [Decimal(3), None, Decimal("0.1")]
    assert table.column("total_price__currency").to_pylist() == ["EUR", None, None]
