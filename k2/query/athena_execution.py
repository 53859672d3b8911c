"""The local Athena's engine: an Athena query run on DuckDB over the Glue catalog's Iceberg tables.

:mod:`k2.query.athena_sql` checks the query and names the (table, version) pairs it reads; here
each is loaded from the pyiceberg catalog at the snapshot its time travel clause selects (a
snapshot id, or the snapshot current at an instant as :mod:`k2.query.time_travel` defines it),
read through pyiceberg -> Arrow (only the columns the query uses, when sqlglot can tell), and
registered in a fresh locked-down DuckDB connection (:func:`k2.query.scan.connect`: no files, no
extensions; session zone UTC like Athena's). The result comes back in Athena's shape: column
metadata as ``GetQueryResults`` reports it and every value rendered as Athena renders it in
``VarCharValue``. Data scanned is the size of the data files the plans kept.

Every failure a user can cause leaves as :class:`AthenaQueryError` (never a raw DuckDB or
pyiceberg error); a cancelled query as :class:`AthenaQueryCancelled`.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any
from uuid import UUID

import duckdb
import numpy as np
import pyarrow as pa
from duckdb.sqltypes import DuckDBPyType
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError
from pyiceberg.table import Table
from pyiceberg.table import _to_arrow_via_file_scan_tasks as arrow_from_tasks
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FixedType,
    FloatType,
    IcebergType,
    IntegerType,
    LongType,
    StringType,
    TimestampType,
    TimestamptzType,
    TimeType,
    UUIDType,
)

from k2.query.athena_sql import (
    DATA_ERROR,
    DECIMAL_DIVIDE_FUNCTION,
    ENTITY_NOT_FOUND,
    FUNCTION_NOT_FOUND_TYPE,
    INTERNAL_ERROR,
    PERMISSION_ERROR,
    SYNTAX_ERROR_TYPE,
    SYSTEM,
    TABLE_DOES_NOT_EXIST,
    AthenaQuery,
    AthenaQueryError,
    Relation,
    SnapshotVersion,
    TimestampVersion,
    invalid_arguments,
    not_supported,
    parse_athena_query,
    syntax_error,
    to_duckdb,
)
from k2.query.errors import AsOfBeforeFirstSnapshotError, QueryError, SnapshotExpiredError
from k2.query.params import from_micros
from k2.query.scan import connect
from k2.query.time_travel import TimeTravel, resolve_snapshot

__all__ = [
    "AthenaColumn",
    "AthenaQueryCancelled",
    "AthenaQueryError",
    "AthenaResult",
    "run_athena_query",
]


@dataclass(frozen=True)
class AthenaColumn:
    """One ``ColumnInfo`` of ``GetQueryResults``' ``ResultSetMetadata``."""

    name: str
    type: str
    precision: int
    scale: int
    nullable: str = "UNKNOWN"
    case_sensitive: bool = False


@dataclass(frozen=True)
class AthenaResult:
    columns: tuple[AthenaColumn, ...]
    rows: list[tuple[str | None, ...]]
    """Values as ``VarCharValue`` holds them; None is SQL NULL (a Datum without a value)."""
    data_scanned_bytes: int


class AthenaQueryCancelled(Exception):  # noqa: N818 (the name helper B codes against)
    """The query was stopped (``StopQueryExecution``) while it ran."""


def run_athena_query(
    sql: str,
    *,
    database: str,
    catalog: Catalog,
    cancelled: threading.Event | None = None,
) -> AthenaResult:
    """Run one Athena query; ``database`` is its QueryExecutionContext database."""
    stop = cancelled or threading.Event()
    _check(stop)
    query = parse_athena_query(sql, database=database)
    tables = {
        (relation.database, relation.table): _load(catalog, relation)
        for relation in query.relations
    }
    _check(stop)
    connection = connect(time_zone="UTC")
    try:
        connection.create_function(
            DECIMAL_DIVIDE_FUNCTION, _decimal_divide, ["VARCHAR", "VARCHAR", "INTEGER"], "VARCHAR"
        )
        snapshots = {
            relation.name: _snapshot(
                connection, tables[relation.database, relation.table], relation
            )
            for relation in query.relations
        }
        schemas = _schemas(query, tables)
        translated = to_duckdb(query, schemas)
        scanned = 0
        for relation in query.relations:
            _check(stop)
            table = tables[relation.database, relation.table]
            wanted = (
                None
                if translated.columns_read is None
                else translated.columns_read.get(relation.name)
            )
            arrow, size = _read(table, snapshots[relation.name], wanted)
            connection.register(relation.name, arrow)
            scanned += size
        _check(stop)
        names, types, rows = _execute(connection, translated.sql, query, stop)
    finally:
        connection.close()
    columns = tuple(_athena_column(name, kind) for name, kind in zip(names, types, strict=True))
    renderers = [_renderer(kind) for kind in types]
    rendered = [
        tuple(
            None if value is None else render(value)
            for render, value in zip(renderers, row, strict=True)
        )
        for row in rows
    ]
    return AthenaResult(columns, rendered, scanned)


def _check(stop: threading.Event) -> None:
    if stop.is_set():
        raise AthenaQueryCancelled("Query cancelled by user")


# --- tables and snapshots ----------------------------------------------------------------------


def _load(catalog: Catalog, relation: Relation) -> Table:
    try:
        return catalog.load_table((relation.database, relation.table))
    except NoSuchTableError:
        if not _database_exists(catalog, relation.database):
            raise AthenaQueryError(
                "SCHEMA_NOT_FOUND",
                f"{relation.position}: Schema '{relation.database}' does not exist",
                error_type=ENTITY_NOT_FOUND,
            ) from None
        raise AthenaQueryError(
            "TABLE_NOT_FOUND",
            f"{relation.position}: Table '{relation.qualified_name}' does not exist",
            error_type=TABLE_DOES_NOT_EXIST,
        ) from None
    except NoSuchNamespaceError:
        raise AthenaQueryError(
            "SCHEMA_NOT_FOUND",
            f"{relation.position}: Schema '{relation.database}' does not exist",
            error_type=ENTITY_NOT_FOUND,
        ) from None
    except ValueError as error:  # e.g. a Glue table that is not an Iceberg table
        raise not_supported(
            f"{relation.position}: {relation.qualified_name} is not an Iceberg table: {error}"
        ) from None


def _database_exists(catalog: Catalog, database: str) -> bool:
    try:
        catalog.load_namespace_properties(database)
    except NoSuchNamespaceError:
        return False
    return True


def _snapshot(
    connection: duckdb.DuckDBPyConnection, table: Table, relation: Relation
) -> int | None:
    version = relation.version
    where = f"{relation.position}: table {relation.database}.{relation.table}"
    try:
        if isinstance(version, SnapshotVersion):
            if table.snapshot_by_id(version.snapshot_id) is None:
                raise invalid_arguments(
                    f"{relation.position}: Iceberg snapshot ID does not exist: "
                    f"{version.snapshot_id}"
                )
            return version.snapshot_id
        if isinstance(version, TimestampVersion):
            as_of = from_micros(_instant_micros(connection, version, relation))
            return resolve_snapshot(table, TimeTravel(as_of=as_of))
        return resolve_snapshot(table, TimeTravel())
    except (AsOfBeforeFirstSnapshotError, SnapshotExpiredError) as error:
        raise invalid_arguments(
            f"{where} has no version at or before the time given: {error}"
        ) from None
    except QueryError as error:
        raise invalid_arguments(f"{where}: {error}") from None


def _instant_micros(
    connection: duckdb.DuckDBPyConnection, version: TimestampVersion, relation: Relation
) -> int:
    try:
        rows = connection.execute(
            f"SELECT epoch_us(CAST(({version.duckdb_sql}) AS TIMESTAMPTZ))"
        ).fetchall()
    except duckdb.Error as error:
        raise invalid_arguments(
            f"{relation.position}: FOR TIMESTAMP AS OF {version.text}: {_first_line(error)}"
        ) from None
    if not rows or rows[0][0] is None:
        raise invalid_arguments(f"{relation.position}: FOR TIMESTAMP AS OF NULL")
    return int(rows[0][0])


def _read(
    table: Table, snapshot_id: int | None, columns: frozenset[str] | None
) -> tuple[pa.Table, int]:
    """The table's rows at ``snapshot_id`` (only ``columns`` when known), and the bytes of the
    data files read. A query that reads no column (``count(*)``) still needs the row count, so
    it reads the first column."""
    if columns is None:
        selected: tuple[str, ...] = ("*",)
    else:
        names = [field.name for field in table.schema().fields]
        selected = tuple(name for name in names if name in columns) or tuple(names[:1])
    data_scan = table.scan(selected_fields=selected, snapshot_id=snapshot_id)
    tasks = list(data_scan.plan_files())
    arrow = arrow_from_tasks(data_scan, data_scan.projection(), tasks)
    return arrow, sum(task.file.file_size_in_bytes for task in tasks)


_TRINO_TYPES: dict[type[IcebergType], str] = {
    StringType: "VARCHAR",
    LongType: "BIGINT",
    IntegerType: "INTEGER",
    BooleanType: "BOOLEAN",
    DoubleType: "DOUBLE",
    FloatType: "REAL",
    DateType: "DATE",
    TimeType: "TIME(6)",
    TimestampType: "TIMESTAMP(6)",
    TimestamptzType: "TIMESTAMP(6) WITH TIME ZONE",
    BinaryType: "VARBINARY",
    FixedType: "VARBINARY",
    UUIDType: "UUID",
}


def _trino_type(kind: IcebergType) -> str | None:
    if isinstance(kind, DecimalType):
        return f"DECIMAL({kind.precision}, {kind.scale})"
    return _TRINO_TYPES.get(type(kind))


def _schemas(
    query: AthenaQuery, tables: Mapping[tuple[str, str], Table]
) -> dict[str, dict[str, str]] | None:
    """Relation -> column -> Trino type, for sqlglot; None if a column's type has no simple
    Trino name (nested types), in which case the query is translated untyped."""
    schemas: dict[str, dict[str, str]] = {}
    for relation in query.relations:
        columns: dict[str, str] = {}
        for field in tables[relation.database, relation.table].schema().fields:
            trino = _trino_type(field.field_type)
            if trino is None:
                return None
            columns[field.name] = trino
        schemas[relation.name] = columns
    return schemas


# --- running the SQL ---------------------------------------------------------------------------


def _execute(
    connection: duckdb.DuckDBPyConnection,
    sql: str,
    query: AthenaQuery,
    stop: threading.Event,
) -> tuple[list[str], list[DuckDBPyType], list[tuple[Any, ...]]]:
    finished = threading.Event()

    def interrupt_when_cancelled() -> None:
        while not finished.wait(0.05):
            if stop.is_set():
                connection.interrupt()
                return

    watcher = threading.Thread(target=interrupt_when_cancelled, daemon=True)
    watcher.start()
    try:
        cursor = connection.execute(sql)
        description = cursor.description or []
        names = [str(column[0]).lower() for column in description]
        types = [column[1] for column in description]
        rows = cursor.fetchall()
    except duckdb.InterruptException:
        raise AthenaQueryCancelled("Query cancelled by user") from None
    except duckdb.Error as error:
        if stop.is_set():
            raise AthenaQueryCancelled("Query cancelled by user") from None
        raise _athena_error(error, query) from None
    finally:
        finished.set()
        watcher.join()
    return names, types, rows


_COLUMN_PATTERNS = (
    re.compile(r'Referenced column "([^"]+)" not found'),
    re.compile(r'does not have a column named "([^"]+)"'),
)
_FUNCTION_PATTERN = re.compile(
    r'(?:Scalar|Aggregate|Table) Function with name "?([\w.]+)"? does not exist'
)


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return re.sub(r"^[A-Za-z ]+ Error: ", "", text)


def _athena_error(error: duckdb.Error, query: AthenaQuery) -> AthenaQueryError:
    """A DuckDB failure as the Athena error a user would see (Trino's error names)."""
    detail = _first_line(error)
    for pattern in _COLUMN_PATTERNS:
        if match := pattern.search(detail):
            column = match.group(1)
            position = query.column_positions.get(column.lower(), "line 1:1")
            return AthenaQueryError(
                "COLUMN_NOT_FOUND",
                f"{position}: Column '{column}' cannot be resolved",
                error_type=SYNTAX_ERROR_TYPE,
            )
    if match := _FUNCTION_PATTERN.search(detail):
        return AthenaQueryError(
            "FUNCTION_NOT_FOUND",
            f"Function '{match.group(1).lower()}' not registered",
            error_type=FUNCTION_NOT_FOUND_TYPE,
        )
    if isinstance(error, duckdb.ParserException):
        return syntax_error(detail)
    if isinstance(error, duckdb.BinderException | duckdb.CatalogException):
        if "No function matches" in detail:
            return AthenaQueryError(
                "FUNCTION_NOT_FOUND", detail, error_type=FUNCTION_NOT_FOUND_TYPE
            )
        if "GROUP BY" in detail:
            return AthenaQueryError(
                "EXPRESSION_NOT_AGGREGATE", detail, error_type=SYNTAX_ERROR_TYPE
            )
        return AthenaQueryError("TYPE_MISMATCH", detail, error_type=SYNTAX_ERROR_TYPE)
    if isinstance(error, duckdb.ConversionException):
        return AthenaQueryError("INVALID_CAST_ARGUMENT", detail, error_type=DATA_ERROR)
    if isinstance(error, duckdb.OutOfRangeException):
        return AthenaQueryError("NUMERIC_VALUE_OUT_OF_RANGE", detail, error_type=DATA_ERROR)
    if isinstance(error, duckdb.InvalidInputException):
        if "division by zero" in detail.lower():
            return AthenaQueryError("DIVISION_BY_ZERO", detail, error_type=DATA_ERROR)
        return AthenaQueryError("INVALID_FUNCTION_ARGUMENT", detail, error_type=DATA_ERROR)
    if isinstance(error, duckdb.PermissionException):
        return AthenaQueryError("PERMISSION_DENIED", detail, error_type=PERMISSION_ERROR)
    if isinstance(error, duckdb.NotImplementedException):
        return not_supported(detail)
    return AthenaQueryError(
        "GENERIC_INTERNAL_ERROR", detail, error_type=INTERNAL_ERROR, error_category=SYSTEM
    )


def _decimal_divide(dividend: str, divisor: str, scale: int) -> str:
    """Trino's decimal division: exact, rounded half up to ``scale`` decimals."""
    with localcontext() as context:
        context.prec = 120  # every quotient of two 38-digit decimals, to 38 decimals
        denominator = Decimal(divisor)
        if denominator == 0:
            raise ZeroDivisionError("Division by zero")
        quotient = (Decimal(dividend) / denominator).quantize(
            Decimal(1).scaleb(-scale), ROUND_HALF_UP
        )
        return format(abs(quotient) if quotient == 0 else quotient, "f")  # no "-0.00"


# --- Athena's column metadata and value rendering ----------------------------------------------

# Athena's ColumnInfo for each type: (type name, precision).
_ATHENA_TYPES: dict[str, tuple[str, int]] = {
    "boolean": ("boolean", 0),
    "tinyint": ("tinyint", 3),
    "smallint": ("smallint", 5),
    "integer": ("integer", 10),
    "bigint": ("bigint", 19),
    # DuckDB widens sum(bigint) to HUGEINT; Trino keeps bigint.
    "hugeint": ("bigint", 19),
    "utinyint": ("smallint", 5),
    "usmallint": ("integer", 10),
    "uinteger": ("bigint", 19),
    "ubigint": ("bigint", 19),
    "uhugeint": ("bigint", 19),
    "float": ("real", 24),
    "double": ("double", 17),
    "varchar": ("varchar", 2147483647),
    "blob": ("varbinary", 1073741824),
    "date": ("date", 0),
    "time": ("time", 3),
    "timestamp": ("timestamp", 3),
    "timestamp_s": ("timestamp", 3),
    "timestamp_ms": ("timestamp", 3),
    "timestamp_ns": ("timestamp", 3),
    "timestamp with time zone": ("timestamp with time zone", 3),
    "interval": ("interval day to second", 0),
    "uuid": ("uuid", 0),
    "list": ("array", 0),
    "array": ("array", 0),
    "map": ("map", 0),
    "struct": ("row", 0),
    "null": ("unknown", 0),
}


def _decimal_parameters(kind: DuckDBPyType) -> tuple[int, int]:
    parameters = dict(kind.children)
    precision, scale = parameters["precision"], parameters["scale"]
    assert isinstance(precision, int) and isinstance(scale, int)
    return precision, scale


def _athena_column(name: str, kind: DuckDBPyType) -> AthenaColumn:
    if kind.id == "decimal":
        return AthenaColumn(name, "decimal", *_decimal_parameters(kind))
    athena_type, precision = _ATHENA_TYPES.get(kind.id, ("varchar", 2147483647))
    return AthenaColumn(name, athena_type, precision, 0)


def _renderer(kind: DuckDBPyType) -> Callable[[Any], str]:
    if kind.id == "decimal":
        _, scale = _decimal_parameters(kind)
        return lambda value: _decimal(value, scale)
    if kind.id == "float":
        return _real
    return render_value


def _decimal(value: Decimal, scale: int) -> str:
    """Exactly ``scale`` decimals, as Trino prints a DECIMAL (quantize never rounds here: the
    value already has that scale)."""
    with localcontext() as context:
        context.prec = 80
        return format(value.quantize(Decimal(1).scaleb(-scale)), "f")


def _java_number(shortest: str) -> str:
    """Java's ``Double.toString`` layout of the shortest round-trip digits: plain between 1e-3
    and 1e7 (at least one decimal), else ``d.dddE<n>``."""
    number = Decimal(shortest)
    if number == 0:
        return "-0.0" if number.is_signed() else "0.0"
    if Decimal("1e-3") <= abs(number) < Decimal("1e7"):
        text = format(number, "f")
        return text if "." in text else f"{text}.0"
    sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits)).rstrip("0") or "0"
    power = len(digits) + exponent - 1
    mantissa = f"{text[0]}.{text[1:] or '0'}"
    return f"{'-' if sign else ''}{mantissa}E{power}"


def _double(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return _java_number(repr(value))


def _real(value: Any) -> str:
    single = np.float32(value)
    if math.isnan(single) or math.isinf(single):
        return _double(float(single))
    return _java_number(str(single))


def _timestamp(value: datetime) -> str:
    text = value.strftime("%Y-%m-%d %H:%M:%S") + f".{value.microsecond:06d}"
    if value.tzinfo is not None:
        offset = value.utcoffset()
        zone = "UTC" if not offset else value.strftime("%z")
        return f"{text} {zone}"
    return text


def _interval(value: timedelta) -> str:
    total_ms = value // timedelta(milliseconds=1)
    sign = "-" if total_ms < 0 else ""
    total_ms = abs(total_ms)
    days, rest = divmod(total_ms, 86_400_000)
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{sign}{days} {hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def render_value(value: Any) -> str:
    """One value as Athena's ``VarCharValue`` shows it (Trino's text form)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return _double(value)
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return _timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat(timespec="milliseconds")
    if isinstance(value, timedelta):
        return _interval(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return " ".join(f"{byte:02x}" for byte in bytes(value))
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Sequence):
        return "[" + ", ".join(_nested(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_nested(k)}={_nested(v)}" for k, v in value.items()) + "}"
    return str(value)


def _nested(value: Any) -> str:
    return "null" if value is None else render_value(value)
