"""Athena (Trino) SQL checked and rewritten for the local engine: pure, no I/O.

The local Athena runs a query on DuckDB over Arrow tables read from the Glue catalog's Iceberg
tables. This module decides what may run and what it reads: exactly one read-only query
(anything that writes, defines, changes settings or touches files is refused, as is any DuckDB
function Trino does not have that reaches outside the query's own data), the catalog tables it
names (``t`` in the query's database, ``db.t``, ``awsdatacatalog.db.t``, quoted or not; CTE names
are not tables) and each one's time travel clause (``FOR VERSION AS OF <snapshot id>`` /
``FOR TIMESTAMP AS OF <instant>``, Athena engine v3). Every distinct (table, version) becomes
one in-memory relation with a generated name, so DuckDB can resolve no name of its own: a query
reaches nothing but the relations the engine registers.

The DuckDB SQL comes from sqlglot (``read="trino"``), on the query qualified and typed against
the tables' schemas, with the Trino semantics sqlglot does not carry over restored: integer
division truncates, ``date_diff`` counts complete units, ``date_add`` on a DATE stays a DATE,
decimal division is exact (a registered function, not DuckDB's DOUBLE), and outputs without a
name are ``_col<n>``.

Errors are Athena's: the ``AthenaError`` category and type codes of the Athena error catalog and
Trino's ``ERROR_NAME: line L:C: message`` text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError, SqlglotError, TokenError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import traverse_scope

CATALOG = "awsdatacatalog"
"""The only catalog: Athena's name for the account's Glue Data Catalog."""

RELATION_PREFIX = "__k2_relation_"

# Athena error categories (AthenaError.ErrorCategory).
SYSTEM, USER, OTHER = 1, 2, 3

# Athena error types (the Athena error catalog, "Error type reference").
INTERNAL_ERROR = 200  # Query engine had an internal error
DATA_ERROR = 1001
SYNTAX_ERROR_TYPE = 1006
INVALID_ARGUMENT = 1100
TABLE_DOES_NOT_EXIST = 1110
QUERY_TYPE_NOT_SUPPORTED = 1202
ENTITY_NOT_FOUND = 1301
FUNCTION_NOT_FOUND_TYPE = 1303
PERMISSION_ERROR = 1500


class AthenaQueryError(Exception):
    """A query Athena would fail, as ``GetQueryExecution`` reports it (``Status.AthenaError``
    and ``StateChangeReason``)."""

    def __init__(
        self,
        error_name: str,
        detail: str,
        *,
        error_type: int,
        error_category: int = USER,
        retryable: bool = False,
    ) -> None:
        self.error_name = error_name
        self.error_type = error_type
        self.error_category = error_category
        self.retryable = retryable
        self.message = f"{error_name}: {detail}"
        super().__init__(self.message)


def syntax_error(detail: str) -> AthenaQueryError:
    return AthenaQueryError("SYNTAX_ERROR", detail, error_type=SYNTAX_ERROR_TYPE)


def not_supported(detail: str) -> AthenaQueryError:
    return AthenaQueryError("NOT_SUPPORTED", detail, error_type=QUERY_TYPE_NOT_SUPPORTED)


def function_not_found(detail: str) -> AthenaQueryError:
    return AthenaQueryError("FUNCTION_NOT_FOUND", detail, error_type=FUNCTION_NOT_FOUND_TYPE)


def invalid_arguments(detail: str) -> AthenaQueryError:
    return AthenaQueryError("INVALID_ARGUMENTS", detail, error_type=INVALID_ARGUMENT)


# --- what a query may be -----------------------------------------------------------------------

_LOCAL_ONLY_READS = "only SELECT queries are supported locally"

# The first keyword of statements that write, define, change a setting or leave the query: refused
# before parsing, so one sqlglot cannot parse (MSCK, UNLOAD, VACUUM ...) is still NOT_SUPPORTED.
_REFUSED_STATEMENTS = frozenset(
    {
        "ALTER", "ANALYZE", "ATTACH", "BEGIN", "CALL", "CHECKPOINT", "COMMENT", "COMMIT", "COPY",
        "CREATE", "DEALLOCATE", "DELETE", "DESC", "DESCRIBE", "DETACH", "DROP", "EXECUTE",
        "EXPLAIN", "EXPORT", "GRANT", "IMPORT", "INSERT", "INSTALL", "LOAD", "MERGE", "MSCK",
        "OPTIMIZE", "PRAGMA", "PREPARE", "REFRESH", "RESET", "REVOKE", "ROLLBACK", "SET", "SHOW",
        "START", "SUMMARIZE", "TRUNCATE", "UNLOAD", "UPDATE", "USE", "VACUUM",
    }
)  # fmt: skip

_WRITES_AND_COMMANDS: tuple[type[exp.Expr], ...] = (
    exp.DDL,
    exp.DML,
    exp.Insert,
    exp.Delete,
    exp.Update,
    exp.Merge,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.Command,
    exp.Set,
    exp.Pragma,
    exp.Copy,
    exp.Use,
    exp.Describe,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    exp.Attach,
    exp.Detach,
    exp.Install,
    exp.Show,
    exp.Grant,
    exp.Revoke,
    exp.Kill,
    exp.TruncateTable,
    exp.Summarize,
    exp.Analyze,
    exp.Export,
    exp.LoadData,
    exp.Refresh,
    exp.Cache,
    exp.Uncache,
    exp.Into,
)

# DuckDB functions that read files or URLs, inspect or change the database and its settings, or
# run SQL given as text. Trino has none of them, so no Athena query needs them; the DuckDB
# connection also forbids file access and extension loading, this is the first line.
_REFUSED_FUNCTION_PREFIXES = (
    "read_", "glob", "parquet_", "iceberg_", "delta_", "duckdb_", "pragma_", "sqlite_",
    "postgres_", "mysql_", "sniff_", "current_setting", "getenv", "getvariable", "query",
    "load_", "install_", "checkpoint", "force_checkpoint", "enable_", "disable_", "set_",
    "which_secret", "summary", "test_all_types", "json_execute", "arrow_scan", "seq_scan",
    "index_scan", "table_info", "show_", "describe", "copy_", "export_", "import_",
)  # fmt: skip


def _refused_function(name: str) -> bool:
    return name.lower().startswith(_REFUSED_FUNCTION_PREFIXES)


# --- the parsed query --------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotVersion:
    """``FOR VERSION AS OF <snapshot id>``."""

    snapshot_id: int


@dataclass(frozen=True)
class TimestampVersion:
    """``FOR TIMESTAMP AS OF <instant>``: the snapshot current at the instant. ``duckdb_sql`` is
    the constant expression in DuckDB SQL (it may be relative, ``current_timestamp - ...``), for
    the engine to evaluate; ``text`` is how the query wrote it."""

    duckdb_sql: str
    text: str


Version = SnapshotVersion | TimestampVersion


@dataclass(frozen=True)
class Relation:
    """One catalog table at one version, as the rewritten query names it."""

    name: str
    database: str
    table: str
    version: Version | None
    position: str
    """``line L:C`` of the first reference, for error messages."""

    @property
    def qualified_name(self) -> str:
        return f"{CATALOG}.{self.database}.{self.table}"


@dataclass(frozen=True)
class AthenaQuery:
    """A checked query whose table references name :class:`Relation` s."""

    expression: exp.Query
    relations: tuple[Relation, ...]
    column_positions: Mapping[str, str]
    """Lower-case column name -> ``line L:C`` of its first reference, for error messages."""


def _position(sql: str, node: exp.Expr) -> str:
    start = node.meta.get("start")
    if start is None:
        for child in node.find_all(exp.Identifier):
            if child.meta.get("start") is not None:
                start = child.meta["start"]
                break
    if start is None:
        return "line 1:1"
    line = sql.count("\n", 0, start) + 1
    column = start - (sql.rfind("\n", 0, start) + 1) + 1
    return f"line {line}:{column}"


def _table_start(sql: str, table: exp.Table) -> str:
    first = table.args.get("catalog") or table.args.get("db") or table.this
    return _position(sql, first)


def _first_keyword(sql: str) -> str | None:
    try:
        tokens = sqlglot.tokenize(sql, read="trino")
    except TokenError as error:
        raise syntax_error(f"line 1:1: {error}") from None
    return tokens[0].text.upper() if tokens else None


def _parse_one(sql: str) -> exp.Expr:
    keyword = _first_keyword(sql)
    if keyword is None:
        raise syntax_error("line 1:1: mismatched input '<EOF>'. Expecting: a query")
    if keyword in _REFUSED_STATEMENTS:
        raise not_supported(f"{keyword} statements are not supported: {_LOCAL_ONLY_READS}")
    try:
        statements = [s for s in sqlglot.parse(sql, read="trino") if s is not None]
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        line, column = first.get("line", 1), first.get("col", 1)
        description = first.get("description", str(error))
        highlight = first.get("highlight")
        near = f" at or near '{highlight}'" if highlight else ""
        raise syntax_error(f"line {line}:{column}: {description}{near}") from None
    except SqlglotError as error:
        raise syntax_error(f"line 1:1: {error}") from None
    if not statements:
        raise syntax_error("line 1:1: mismatched input '<EOF>'. Expecting: a query")
    if len(statements) > 1:
        raise syntax_error(f"Only one sql statement is allowed. Got: {sql.strip()}")
    return statements[0]


def _as_query(values: exp.Values) -> exp.Query:
    """A bare ``VALUES`` statement as ``SELECT *`` over it, its columns named as Trino names
    them (``_col0`` ...)."""
    first = values.expressions[0] if values.expressions else None
    width = len(first.expressions) if isinstance(first, exp.Tuple) else 1
    aliased = values.copy()
    aliased.set(
        "alias",
        exp.TableAlias(
            this=exp.to_identifier("_values"),
            columns=[exp.to_identifier(f"_col{i}", quoted=True) for i in range(width)],
        ),
    )
    return exp.select("*").from_(aliased)


def _check_read_only(sql: str, statement: exp.Expr) -> exp.Query:
    if isinstance(statement, exp.Values):
        statement = _as_query(statement)
    if not isinstance(statement, exp.Query):
        raise not_supported(f"{statement.key.upper()} is not supported: {_LOCAL_ONLY_READS}")
    for node in statement.walk():
        if isinstance(node, _WRITES_AND_COMMANDS):
            raise not_supported(
                f"{_position(sql, node)}: {node.key.upper()} is not supported: {_LOCAL_ONLY_READS}"
            )
        if isinstance(node, exp.Func):
            name = node.name if isinstance(node, exp.Anonymous) else node.sql_name()
            if isinstance(node, (exp.ReadCSV, exp.ReadParquet)) or _refused_function(name):
                raise function_not_found(
                    f"{_position(sql, node)}: Function '{name.lower()}' not registered"
                )
    return statement


def _snapshot_id(sql: str, version: exp.Version) -> int:
    value = version.expression
    negative = isinstance(value, exp.Neg)
    literal = value.this if negative else value
    if not (isinstance(literal, exp.Literal) and not literal.is_string and literal.is_int):
        raise syntax_error(
            f"{_position(sql, version)}: FOR VERSION AS OF expects a snapshot id (an integer), "
            f"got {value.sql(dialect='trino')}"
        )
    number = int(literal.this)
    return -number if negative else number


def _version(sql: str, version: exp.Version | None) -> Version | None:
    if version is None:
        return None
    kind = str(version.this).upper()
    if str(version.args.get("kind", "AS OF")).upper() != "AS OF":
        raise not_supported(f"{_position(sql, version)}: only FOR ... AS OF is supported")
    if kind == "VERSION":
        return SnapshotVersion(_snapshot_id(sql, version))
    if kind == "TIMESTAMP":
        instant = version.expression
        if any(isinstance(node, (exp.Column, exp.Query)) for node in instant.walk()):
            raise invalid_arguments(
                f"{_position(sql, version)}: FOR TIMESTAMP AS OF expects a constant expression"
            )
        return TimestampVersion(
            duckdb_sql=instant.sql(dialect="duckdb"), text=instant.sql(dialect="trino")
        )
    raise not_supported(f"{_position(sql, version)}: FOR {kind} AS OF is not supported")


def _cte_names(statement: exp.Expr) -> set[str]:
    return {cte.alias.lower() for cte in statement.find_all(exp.CTE)}


def _check_table_source(sql: str, table: exp.Table) -> None:
    """A FROM item that is a function (``read_csv(...)``, ``TABLE(...)``) is refused: Athena
    queries read catalog tables, UNNEST and subqueries only."""
    if not isinstance(table.this, exp.Identifier):
        function = table.this
        name = function.name if isinstance(function, exp.Anonymous) else function.sql_name()
        if isinstance(function, exp.Anonymous) and function.name.upper() == "TABLE":
            inner = function.expressions[0] if function.expressions else None
            if isinstance(inner, exp.Func):
                name = inner.name if isinstance(inner, exp.Anonymous) else inner.sql_name()
        raise function_not_found(
            f"{_position(sql, table)}: Table function '{name.lower()}' not registered"
        )


def parse_athena_query(sql: str, *, database: str) -> AthenaQuery:
    """The checked query with every catalog table reference replaced by its relation's name.

    ``database`` is the query's QueryExecutionContext database (unqualified names resolve there);
    any database of the catalog can be named explicitly."""
    statement = _check_read_only(sql, _parse_one(sql))
    ctes = _cte_names(statement)
    relations: dict[tuple[str, str, Version | None], Relation] = {}
    for table in list(statement.find_all(exp.Table)):
        _check_table_source(sql, table)
        catalog_name, db, name = table.catalog, table.db, table.name
        if not db and name.lower() in ctes and table.args.get("version") is None:
            continue
        if catalog_name and catalog_name.lower() != CATALOG:
            raise AthenaQueryError(
                "CATALOG_NOT_FOUND",
                f"{_table_start(sql, table)}: Catalog '{catalog_name.lower()}' does not exist",
                error_type=ENTITY_NOT_FOUND,
            )
        version = _version(sql, table.args.get("version"))
        key = ((db or database).lower(), name.lower(), version)
        relation = relations.get(key)
        if relation is None:
            relation = Relation(
                name=f"{RELATION_PREFIX}{len(relations)}",
                database=key[0],
                table=key[1],
                version=version,
                position=_table_start(sql, table),
            )
            relations[key] = relation
        alias = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier(name))
        table.replace(
            exp.Table(this=exp.to_identifier(relation.name, quoted=True), alias=alias.copy())
        )
    for column in statement.find_all(exp.Column):
        # db.t.c / catalog.db.t.c name the table by its full name; the relation keeps only ``t``.
        column.set("db", None)
        column.set("catalog", None)
    positions: dict[str, str] = {}
    for column in statement.find_all(exp.Column):
        positions.setdefault(column.name.lower(), _position(sql, column.this))
    _name_unnamed_outputs(statement)
    return AthenaQuery(statement, tuple(relations.values()), positions)


def _name_unnamed_outputs(query: exp.Query) -> None:
    """Trino names an output that is neither a column nor aliased ``_col<position>``."""
    select = query
    while isinstance(select, exp.SetOperation | exp.Subquery):
        select = select.this
    if not isinstance(select, exp.Select):
        return
    for index, projection in enumerate(select.expressions):
        if not isinstance(projection, (exp.Alias, exp.Column, exp.Star)):
            projection.replace(exp.alias_(projection.copy(), f"_col{index}", quoted=True))


# --- to DuckDB ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DuckDbQuery:
    sql: str
    columns_read: Mapping[str, frozenset[str]] | None
    """Relation name -> the columns the query reads from it; None when that could not be
    worked out (read every column)."""


def to_duckdb(
    query: AthenaQuery, schemas: Mapping[str, Mapping[str, str]] | None = None
) -> DuckDbQuery:
    """DuckDB SQL for ``query``. With ``schemas`` (relation name -> column -> Trino type) the
    query is qualified and typed first, which lets sqlglot translate what depends on types
    (Trino's integer division truncates) and tells which columns each relation must supply."""
    expression = annotate_types(query.expression.copy(), dialect="trino")
    columns_read = None
    if schemas:
        try:
            typed = qualify(
                expression.copy(),
                schema={name: dict(columns) for name, columns in schemas.items()},
                dialect="trino",
                validate_qualify_columns=True,
                quote_identifiers=True,
                identify=False,
            )
            typed = annotate_types(typed, schema=dict(schemas), dialect="trino")
        except (OptimizeError, SqlglotError, KeyError, ValueError):
            typed = None  # DuckDB will report what is wrong, on the unqualified query
        if typed is not None:
            columns_read = _columns_read(typed, schemas.keys())
            expression = typed
    _keep_dates(expression)
    _complete_units(expression)
    if schemas:
        _exact_decimal_division(expression)
    sql = expression.sql(dialect="duckdb")
    return DuckDbQuery(sql, columns_read)


DECIMAL_DIVIDE_FUNCTION = "k2_decimal_divide"
"""The scalar function the engine registers: (dividend text, divisor text, scale) -> quotient
text rounded half up to ``scale`` decimals, computed exactly."""

_MAX_PRECISION = 38
_INTEGER_DIGITS = {
    exp.DType.TINYINT: 3,
    exp.DType.SMALLINT: 5,
    exp.DType.INT: 10,
    exp.DType.BIGINT: 19,
}


def _decimal_type(node: exp.Expr) -> tuple[int, int] | None:
    """Trino's DECIMAL(precision, scale) of ``node`` (integers as DECIMAL(n, 0)), worked out
    with Trino's rules for the expressions a decimal division's operands usually are; None when
    ``node`` is not a decimal or its type is not known here."""
    if isinstance(node, exp.Paren | exp.Neg):
        return _decimal_type(node.this)
    if isinstance(node, exp.Literal) and not node.is_string:
        digits = node.this.lstrip("-")
        if "e" in digits.lower():
            return None
        whole, _, fraction = digits.partition(".")
        return (
            (10, 0) if not fraction and len(whole) < 10 else (len(whole + fraction), len(fraction))
        )
    if isinstance(node, exp.Column | exp.Cast | exp.TryCast):
        kind = node.type
        if kind is None:
            return None
        if kind.this == exp.DType.DECIMAL:
            params = [p.this for p in kind.expressions]
            if len(params) == 2 and all(isinstance(p, exp.Literal) for p in params):
                return int(params[0].this), int(params[1].this)
            return None
        digits = _INTEGER_DIGITS.get(kind.this)
        return None if digits is None else (digits, 0)
    if isinstance(node, exp.Sum):
        inner = _decimal_type(node.this)
        return None if inner is None else (_MAX_PRECISION, inner[1])
    if isinstance(node, exp.Min | exp.Max | exp.Avg):
        return _decimal_type(node.this)
    if isinstance(node, exp.Mul | exp.Add | exp.Sub | exp.Div):
        left, right = _decimal_type(node.left), _decimal_type(node.right)
        if left is None or right is None:
            return None
        (p1, s1), (p2, s2) = left, right
        if isinstance(node, exp.Mul):
            return min(_MAX_PRECISION, p1 + p2), s1 + s2
        if isinstance(node, exp.Div):
            return min(_MAX_PRECISION, p1 + s2 + max(0, s2 - s1)), max(s1, s2)
        scale = max(s1, s2)
        return min(_MAX_PRECISION, 1 + scale + max(p1 - s1, p2 - s2)), scale
    return None


def _exact_decimal_division(expression: exp.Expr) -> None:
    """Trino divides decimals exactly (rounding half up to the result's scale); DuckDB divides
    them in DOUBLE. Each division with a decimal operand (and the other decimal or integer) is
    computed by :data:`DECIMAL_DIVIDE_FUNCTION` on the operands' exact text instead."""
    rewrites = []
    for node in expression.find_all(exp.Div):
        left, right = _decimal_type(node.left), _decimal_type(node.right)
        if left is None or right is None or (left[1] == 0 and right[1] == 0):
            continue  # not decimals, unknown, or integers (Trino's integer division)
        result = _decimal_type(node)
        if result is not None:
            rewrites.append((node, result))
    for node, (precision, scale) in reversed(rewrites):  # innermost first
        quotient = exp.Anonymous(
            this=DECIMAL_DIVIDE_FUNCTION,
            expressions=[
                exp.cast(node.left.copy(), exp.DType.VARCHAR),
                exp.cast(node.right.copy(), exp.DType.VARCHAR),
                exp.Literal.number(scale),
            ],
        )
        node.replace(exp.cast(quotient, exp.DataType.build(f"DECIMAL({precision}, {scale})")))


def _complete_units(expression: exp.Expr) -> None:
    """Trino's ``date_diff(unit, a, b)`` counts complete units from a to b; DuckDB's
    ``date_diff`` counts unit boundaries crossed, its ``date_sub`` complete units."""
    for node in list(expression.find_all(exp.DateDiff)):
        unit = node.args.get("unit")
        if unit is None:
            continue
        node.replace(
            exp.Anonymous(
                this="DATE_SUB",
                expressions=[
                    exp.Literal.string(unit.name.lower()),
                    node.expression.copy(),
                    node.this.copy(),
                ],
            )
        )


_DATE_UNITS = frozenset({"DAY", "WEEK", "MONTH", "QUARTER", "YEAR"})


def _keep_dates(expression: exp.Expr) -> None:
    """Trino's ``date_add(unit, n, <date>)`` is a DATE for calendar units; DuckDB's date +
    interval is a TIMESTAMP, so the sum is cast back."""
    for node in list(expression.find_all(exp.DateAdd, exp.DateSub)):
        unit = node.args.get("unit")
        if (
            node.this.is_type(exp.DType.DATE)
            and unit is not None
            and unit.name.upper() in _DATE_UNITS
        ):
            node.replace(exp.cast(node.copy(), exp.DType.DATE))


def _columns_read(
    expression: exp.Expr, relations: Iterable[str]
) -> Mapping[str, frozenset[str]] | None:
    wanted = set(relations)
    reads: dict[str, set[str]] = {name: set() for name in wanted}
    for scope in traverse_scope(expression):
        for column in scope.columns:
            source = scope.sources.get(column.table)
            if isinstance(source, exp.Table) and source.name in wanted:
                reads[source.name].add(column.name)
        if isinstance(scope.expression, exp.Select) and any(
            isinstance(p, exp.Star) or (isinstance(p, exp.Column) and isinstance(p.this, exp.Star))
            for p in scope.expression.expressions
        ):
            return None  # a star qualify could not expand: read everything
    return {name: frozenset(columns) for name, columns in reads.items()}


def translate(sql: str, *, database: str) -> str:
    """The DuckDB SQL for an Athena query, without table schemas (for tests and tools)."""
    return to_duckdb(parse_athena_query(sql, database=database)).sql
