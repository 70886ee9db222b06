"""Pages of session documents as Arrow tables, column for column what dlt's own normalizer makes.

Sessions are nearly all the volume. Yielded as Python dicts they go through dlt's JSON path:
written as typed JSON lines at extract, read back, flattened and typed value by value at
normalize. Yielded as Arrow tables they are written to parquet once and loaded as they are,
which is several times faster. The table must be the one dlt would have made from the dicts:
nested objects flattened into `parent__child` snake_case columns, timestamps as UTC
microseconds, money and energy as exact decimals (via the number's shortest repr, as
`records.shape` does), other scalars as JSON typed them, all-null columns left out. A page
holding a list anywhere (which dlt would turn into a child table) is returned as dicts instead.

Arrow reads the documents: from the page's JSON body with its own reader where it can
(`read_page`), which holds no interpreter lock, else from the parsed documents (`pa.array`
infers one struct type from every value, in C++; walking them in Python cost three times as
much). Both readings are the same array (property-tested). Columns come out grouped by their
parent object, in the order keys first appear in it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
from dlt.common.normalizers.naming.snake_case import NamingConvention

from sources.wirelane.records import API_TIMESTAMP, EXACT_KEYS, TIMESTAMP_KEYS

DECIMAL = pa.decimal128(38, 9)  # dlt's default precision and scale for `decimal`
DECIMAL_LIMIT = 10.0 ** (DECIMAL.precision - DECIMAL.scale)  # the first value it cannot hold
# records.API_TIMESTAMP for Arrow's RE2: ASCII digits, and no newline before the end
API_TIMESTAMP_RE2 = API_TIMESTAMP.pattern.replace(r"\d", "[0-9]")
_NAMING = NamingConvention()
_COLUMN_NAMES: dict[tuple[str, ...], str] = {}


class NotTabular(Exception):
    """The page has a list value (dlt makes child tables of those) or a key whose values mix
    types (dlt makes variant columns): it belongs on dlt's dict path."""


def _column_name(path: tuple[str, ...]) -> str:
    name = _COLUMN_NAMES.get(path)
    if name is None:
        name = _NAMING.normalize_path(_NAMING.make_path(*path))
        _COLUMN_NAMES[path] = name
    return name


def _leaves(array: pa.Array, path: tuple[str, ...], leaves: dict[tuple[str, ...], pa.Array]) -> None:
    """The scalar columns under `array`, by key path; a parent's nulls null its children."""
    kind = array.type
    if pa.types.is_struct(kind):
        for index, child in enumerate(array.flatten()):
            _leaves(child, (*path, kind.field(index).name), leaves)
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
        raise NotTabular(".".join(path))
    elif not pa.types.is_null(kind):  # a key that is null (or absent) everywhere is left out
        leaves[path] = array


def _typed(key: str, array: pa.Array) -> pa.Array:
    kind = array.type
    if key in EXACT_KEYS and pa.types.is_integer(kind):
        return pc.cast(array, DECIMAL)
    if key in EXACT_KEYS and pa.types.is_floating(kind):
        largest = pc.max(pc.abs(array)).as_py()
        if largest is not None and largest >= DECIMAL_LIMIT:
            # Arrow's cast wraps such a value round instead of refusing it (3.4e29 became
            # 3.4e20); the dict path keeps it as the Decimal it is
            raise NotTabular(key)
        # the float's shortest repr is the number as the API wrote it: exact, like Decimal(repr(x))
        return pc.cast(pc.cast(array, pa.string()), DECIMAL)
    if key in TIMESTAMP_KEYS and pa.types.is_string(kind):
        stamps = pc.match_substring_regex(array, API_TIMESTAMP_RE2)
        if pc.all(stamps).as_py():
            return pc.strptime(array, format="%Y-%m-%dT%H:%M:%S%z", unit="us")
        if pc.any(stamps).as_py():  # `shape` would type some values and not others: a variant
            raise NotTabular(key)
    return array


def replace_strings(
    table: pa.Table, paths: Iterable[tuple[str, ...]], replace: Callable[[list[str | None]], list[str | None]]
) -> pa.Table:
    """`table` with its text columns at `paths` (key paths, as in a document) passed through
    `replace`, for pseudonymizing a page once it is a table: column by column, instead of
    walking every document. Columns of other types are left as they are, as the dict path
    leaves values that are not strings; paths into lists (`*`) never reach a table."""
    for path in paths:
        index = table.schema.get_field_index(_column_name(path))
        if index < 0 or not pa.types.is_string(table.schema.field(index).type):
            continue
        values = replace(table.column(index).to_pylist())
        table = table.set_column(index, table.schema.field(index), pa.array(values, type=pa.string()))
    return table


@dataclass(frozen=True)
class Page:
    """A page of documents as read from its body: by Arrow (`arrow`), or by orjson
    (`documents`) where Arrow declined. Python's reading of an Arrow-read page is made when
    asked for (`python`), from the body, which it keeps."""

    body: bytes
    arrow: pa.StructArray | None
    documents: list[dict[str, Any]] | None

    def __len__(self) -> int:
        return len(self.arrow) if self.arrow is not None else len(self.documents or ())

    def python(self) -> list[dict[str, Any]]:
        if self.documents is not None:
            return self.documents
        documents: list[dict[str, Any]] = orjson.loads(self.body)
        return documents

    def column(self, key: str) -> list[Any]:
        """One key's values, document by document (None where a document lacks it)."""
        if self.arrow is None:
            return [document.get(key) for document in self.python()]
        index = self.arrow.type.get_field_index(key)
        return self.arrow.field(index).to_pylist() if index >= 0 else [None] * len(self.arrow)


def read_page(body: bytes) -> Page | Any:
    """A list's page: Arrow's reading of the body (without holding the interpreter), else
    orjson's; a body that is not a list of documents is returned as orjson reads it (and a
    malformed one raises orjson's ValueError), for the client to refuse."""
    arrow = parsed_documents(body)
    if arrow is not None:
        return Page(body, arrow, None)
    documents = orjson.loads(body)
    if not isinstance(documents, list):
        return documents
    return Page(body, None, documents)


def parsed_documents(body: bytes) -> pa.StructArray | None:
    """A page's documents as Arrow reads them from the JSON body itself: the array
    `pa.array(documents)` makes of the same documents parsed into Python, without holding the
    interpreter (that conversion took 11 of a page's 16 ms in `page_table`, on the thread that
    also runs dlt), or None where the two could differ, which then decide on `pa.array`.

    Arrow's reader takes one JSON value per row, so the body becomes the one row of a
    `{"d": body}` document. It infers timestamps from date-like text, which `pa.array` leaves as
    text for `_typed` to check against the API's format: such fields are read again as text.
    It reads an integer beyond 64 bits as a double, where `pa.array` refuses the page."""
    source = b'{"d":' + body + b"}"
    options = pajson.ReadOptions(use_threads=False, block_size=len(source) + 1)
    try:
        column = pajson.read_json(pa.BufferReader(source), read_options=options).column(0)
        as_text = _temporal_as_text(column.type)
        if as_text != column.type:
            schema = pajson.ParseOptions(explicit_schema=pa.schema([pa.field("d", as_text)]))
            column = pajson.read_json(pa.BufferReader(source), read_options=options, parse_options=schema).column(0)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None  # not one array of objects of one layout: `pa.array` says what it is
    if column.num_chunks != 1 or not pa.types.is_list(column.type) or not pa.types.is_struct(column.type.value_type):
        return None
    documents = column.chunk(0).flatten()
    return None if _beyond_int64(documents) else documents


def _temporal_as_text(kind: pa.DataType) -> pa.DataType:
    if pa.types.is_temporal(kind):
        return pa.string()
    if pa.types.is_struct(kind):
        return pa.struct([field.with_type(_temporal_as_text(field.type)) for field in kind])
    if pa.types.is_list(kind):
        return pa.list_(_temporal_as_text(kind.value_type))
    return kind


def _beyond_int64(array: pa.Array) -> bool:
    kind = array.type
    if pa.types.is_struct(kind):
        return any(_beyond_int64(child) for child in array.flatten())
    if pa.types.is_floating(kind) and array.null_count < len(array):
        return bool(pc.max(pc.abs(array)).as_py() >= 2.0**63)
    return False


def page_table(
    documents: list[dict[str, Any]] | pa.StructArray, extra: dict[str, Any], required: frozenset[str] = frozenset()
) -> pa.Table:
    """One Arrow table for a page of documents, parsed into Python or Arrow's reading of them
    (`parsed_documents`), plus constant `extra` columns (e.g. the organization); `required`
    columns are declared not null, as the resource's hints declare them. Raises NotTabular
    when the page is better left to dlt's dict path."""
    rows = len(documents)
    arrays = {_column_name((key,)): pa.array([value] * rows) for key, value in extra.items()}
    leaves: dict[tuple[str, ...], pa.Array] = {}
    try:
        # mixed types (a number here, a string there; an object here, a number there) raise
        _leaves(documents if isinstance(documents, pa.StructArray) else pa.array(documents), (), leaves)
        for path, array in leaves.items():
            arrays[_column_name(path)] = _typed(path[-1], array)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as error:
        raise NotTabular(str(error)) from None
    table = pa.table(arrays)
    fields = [
        f.with_nullable(False) if f.name in required and table.column(f.name).null_count == 0 else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields)) if required else table
