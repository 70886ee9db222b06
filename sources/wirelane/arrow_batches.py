"""Pages of session documents as Arrow tables, column for column what dlt's own normalizer makes.

Sessions are nearly all the volume. Yielded as Python dicts they go through dlt's JSON path:
written as typed JSON lines at extract, read back, flattened and typed value by value at
normalize. Yielded as Arrow tables they are written to parquet once and loaded as they are,
which is several times faster. The table must be the one dlt would have made from the dicts:
nested objects flattened into `parent__child` snake_case columns, timestamps as UTC
microseconds, money and energy as exact decimals (via the number's shortest repr, as
`records.shape` does), other scalars as JSON typed them, all-null columns left out. A page
holding a list anywhere (which dlt would turn into a child table) is returned as dicts instead.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.normalizers.naming.snake_case import NamingConvention

from sources.wirelane.records import API_TIMESTAMP, EXACT_KEYS, TIMESTAMP_KEYS

DECIMAL = pa.decimal128(38, 9)  # dlt's default precision and scale for `decimal`
TIMESTAMP = pa.timestamp("us", tz="UTC")
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


def _flatten(
    document: dict[str, Any], prefix: tuple[str, ...], columns: dict[tuple[str, ...], list[Any]], row: int, rows: int
) -> None:
    for key, value in document.items():
        path = (*prefix, key)
        if type(value) is dict:
            _flatten(value, path, columns, row, rows)
        elif type(value) is list:
            raise NotTabular(key)
        elif value is not None:
            values = columns.get(path)
            if values is None:
                values = columns[path] = [None] * rows
            values[row] = value


def _array(key: str, values: list[Any]) -> pa.Array:
    kinds = {type(v) for v in values if v is not None}
    if key in EXACT_KEYS and kinds <= {int, float}:
        if kinds == {int}:
            return pc.cast(pa.array(values, pa.int64()), DECIMAL)
        # the float's shortest repr is the number as the API wrote it: exact, like Decimal(repr(x))
        return pc.cast(pc.cast(pa.array(values, pa.float64()), pa.string()), DECIMAL)
    if key in TIMESTAMP_KEYS and kinds == {str} and all(v is None or API_TIMESTAMP.match(v) for v in values):
        return pc.strptime(pa.array(values, pa.string()), format="%Y-%m-%dT%H:%M:%S%z", unit="us")
    if kinds == {int, float}:
        return pa.array([None if v is None else float(v) for v in values], pa.float64())
    return pa.array(values)


def page_table(
    documents: list[dict[str, Any]], extra: dict[str, Any], required: frozenset[str] = frozenset()
) -> pa.Table:
    """One Arrow table for a page of documents (plus constant `extra` columns, e.g. the
    organization); `required` columns are declared not null, as the resource's hints declare
    them. Raises NotTabular when the page is better left to dlt's dict path."""
    rows = len(documents)
    columns: dict[tuple[str, ...], list[Any]] = {}
    for row, document in enumerate(documents):
        _flatten(document, (), columns, row, rows)
    arrays = {_column_name((key,)): pa.array([value] * rows) for key, value in extra.items()}
    try:
        for path, values in columns.items():
            arrays[_column_name(path)] = _array(path[-1], values)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise NotTabular(str(error)) from None
    table = pa.table(arrays)
    fields = [
        f.with_nullable(False) if f.name in required and table.column(f.name).null_count == 0 else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields)) if required else table
