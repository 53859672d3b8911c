"""Create every K2 table, or evolve it to its definition, idempotently (pyiceberg only).

``init_lake`` is what ``k2 lake init`` and the CDK custom resource run. It first plans every
table (load it, compare it with its definition) and refuses the whole run with
:class:`IncompatibleTableChange` if any table would need a change Iceberg cannot make without
rewriting or losing data; only then does it apply, one atomic commit per table. A second run
finds nothing to do.

Compatible, applied:
  * a new column, added optional (rows written before read it as null);
  * a type widened as the Iceberg spec allows: int -> long, float -> double,
    decimal(P, S) -> decimal(P', S) with P' > P;
  * a required column made optional;
  * column order, column docs, the table doc (``comment``) and the definition's properties
    (properties the definition does not name are left alone: engines and maintenance set some);
  * partition spec (Iceberg partition evolution: files written before keep their old spec),
    sort order and identifier fields;
  * format version upgraded.

Incompatible, refused: a column that is in the table but not in the definition (a removal or a
rename), a new required column (existing rows have no value for it), an optional column made
required, any other type change, a format version downgrade, a non-Iceberg table in the way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import pairwise
from typing import cast

from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import (
    NoSuchIcebergTableError,
    NoSuchNamespaceError,
    NoSuchPropertyException,
    NoSuchTableError,
    TableAlreadyExistsError,
)
from pyiceberg.schema import Schema
from pyiceberg.table import Table, Transaction
from pyiceberg.table.update.schema import UpdateSchema
from pyiceberg.transforms import IdentityTransform
from pyiceberg.typedef import TableVersion
from pyiceberg.types import DecimalType, DoubleType, FloatType, IcebergType, IntegerType, LongType

from k2.lake.table_definition import FORMAT_VERSION_PROPERTY, Column, TableDefinition
from k2.lake.tables import all_tables

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    CREATED = "created"
    EVOLVED = "evolved"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class TableChange:
    """What ``init_lake`` did (or, from ``plan_lake``, would do) to one table."""

    table: str
    """``database.name``"""
    outcome: Outcome
    changes: tuple[str, ...] = ()
    """One line per change, e.g. ``add column venue (optional string)``; empty unless evolved."""


@dataclass(frozen=True)
class Incompatibility:
    table: str
    column: str | None
    """The column at fault, or None for a table-level problem."""
    problem: str

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        return f"{where}: {self.problem}"


class IncompatibleTableChange(Exception):  # noqa: N818 - the name the callers know it by
    """A table differs from its definition in a way evolution cannot bridge. Nothing was changed
    (on any table of the run). ``table`` and ``column`` name the first problem; every problem
    found is in ``incompatibilities``."""

    def __init__(self, incompatibilities: Sequence[Incompatibility]) -> None:
        if not incompatibilities:
            raise ValueError("an IncompatibleTableChange needs at least one incompatibility")
        self.incompatibilities = tuple(incompatibilities)
        self.table = self.incompatibilities[0].table
        self.column = self.incompatibilities[0].column
        super().__init__(
            "incompatible table change, nothing applied: "
            + "; ".join(str(item) for item in self.incompatibilities)
        )


def init_lake(
    catalog: Catalog, database: str, tables: Sequence[TableDefinition] | None = None
) -> list[TableChange]:
    """Create the database if missing, then create or evolve each table (default: every K2
    table). Raises :class:`IncompatibleTableChange` before changing anything if any table cannot
    be evolved to its definition."""
    plans = _plan_all(catalog, database, all_tables() if tables is None else tables)
    catalog.create_namespace_if_not_exists(database)
    return [_apply(catalog, plan) for plan in plans]


def plan_lake(
    catalog: Catalog, database: str, tables: Sequence[TableDefinition] | None = None
) -> list[TableChange]:
    """What ``init_lake`` would do, changing nothing (a dry run). Raises the same
    :class:`IncompatibleTableChange`."""
    plans = _plan_all(catalog, database, all_tables() if tables is None else tables)
    return [plan.change for plan in plans]


# --- planning --------------------------------------------------------------------------------

SchemaStep = Callable[[UpdateSchema], object]
TransactionStep = Callable[[Transaction], object]


@dataclass
class _Plan:
    definition: TableDefinition
    database: str
    table: Table | None  # None: create it
    changes: list[str] = field(default_factory=list)
    schema_steps: list[SchemaStep] = field(default_factory=list)
    transaction_steps: list[TransactionStep] = field(default_factory=list)
    incompatibilities: list[Incompatibility] = field(default_factory=list)

    @property
    def identifier(self) -> str:
        return self.definition.identifier(self.database)

    @property
    def change(self) -> TableChange:
        if self.table is None:
            return TableChange(self.identifier, Outcome.CREATED)
        if self.changes:
            return TableChange(self.identifier, Outcome.EVOLVED, tuple(self.changes))
        return TableChange(self.identifier, Outcome.UNCHANGED)

    def refuse(self, column: str | None, problem: str) -> None:
        self.incompatibilities.append(Incompatibility(self.identifier, column, problem))

    def schema_step(self, change: str, step: SchemaStep) -> None:
        self.changes.append(change)
        self.schema_steps.append(step)

    def transaction_step(self, change: str, step: TransactionStep) -> None:
        self.changes.append(change)
        self.transaction_steps.append(step)


def _plan_all(catalog: Catalog, database: str, tables: Sequence[TableDefinition]) -> list[_Plan]:
    names = [table.name for table in tables]
    if duplicates := sorted({name for name in names if names.count(name) > 1}):
        raise ValueError(f"table defined more than once: {duplicates}")
    plans = [_plan_table(catalog, definition, database) for definition in tables]
    if incompatibilities := [item for plan in plans for item in plan.incompatibilities]:
        raise IncompatibleTableChange(incompatibilities)
    return plans


def _plan_table(catalog: Catalog, definition: TableDefinition, database: str) -> _Plan:
    try:
        table = catalog.load_table(definition.identifier(database))
    except (NoSuchIcebergTableError, NoSuchPropertyException):
        plan = _Plan(definition, database, None)
        plan.refuse(None, "a Glue table of this name exists and is not an Iceberg table")
        return plan
    except (NoSuchTableError, NoSuchNamespaceError):
        return _Plan(definition, database, None)
    plan = _Plan(definition, database, table)
    _plan_format_version(plan, table, definition)
    _plan_schema(plan, table.schema(), definition)
    _plan_partition_spec(plan, table, definition)
    _plan_sort_order(plan, table, definition)
    _plan_properties(plan, table, definition)
    return plan


def _plan_format_version(plan: _Plan, table: Table, definition: TableDefinition) -> None:
    wanted, current = definition.format_version, table.format_version
    if wanted < current:
        plan.refuse(None, f"format version {current} cannot be downgraded to {wanted}")
    elif wanted > current:
        version = cast(TableVersion, wanted)
        plan.transaction_step(
            f"upgrade format version {current} -> {wanted}",
            lambda transaction: transaction.upgrade_table_version(version),
        )


def _plan_schema(plan: _Plan, schema: Schema, definition: TableDefinition) -> None:
    wanted = {column.name: column for column in definition.columns}
    for existing in schema.columns:
        if existing.name not in wanted:
            plan.refuse(
                existing.name,
                "column is in the table but not in the definition (removing or renaming a "
                "column is not an evolution init makes)",
            )
    current_names = [existing.name for existing in schema.columns]
    for column in definition.columns:
        if column.name not in current_names:
            _plan_new_column(plan, column)
        else:
            _plan_existing_column(plan, schema, column)

    # New columns land last; put every column where the definition has it.
    added = [column.name for column in definition.columns if column.name not in current_names]
    after_adds = [*current_names, *added]
    order = [column.name for column in definition.columns]
    if [name for name in after_adds if name in wanted] != order:
        plan.schema_step("reorder columns to the definition", _reorder(order))

    identifier_fields = set(definition.identifier_fields)
    if schema.identifier_field_names() != identifier_fields:
        names = definition.identifier_fields
        plan.schema_step(
            f"set identifier fields ({', '.join(names) or 'none'})",
            lambda update: update.set_identifier_fields(*names),
        )


def _plan_new_column(plan: _Plan, column: Column) -> None:
    if column.required:
        plan.refuse(
            column.name,
            "new required column: rows already in the table have no value for it (add it as "
            "optional)",
        )
        return
    plan.schema_step(
        f"add column {column.name} (optional {column.type})",
        lambda update: update.add_column(column.name, column.type, doc=column.doc),
    )


def _plan_existing_column(plan: _Plan, schema: Schema, column: Column) -> None:
    existing = schema.find_field(column.name)
    name = column.name
    if existing.field_type != column.type:
        if _can_widen(existing.field_type, column.type):
            plan.schema_step(
                f"widen column {name}: {existing.field_type} -> {column.type}",
                lambda update: update.update_column(name, field_type=column.type),
            )
        else:
            plan.refuse(
                name,
                f"type {existing.field_type} cannot change to {column.type} (Iceberg allows only "
                "int->long, float->double and a wider decimal precision at the same scale)",
            )
    if column.required and existing.optional:
        plan.refuse(name, "optional in the table but required in the definition")
    elif existing.required and not column.required:
        plan.schema_step(
            f"make column {name} optional",
            lambda update: update.make_column_optional(name),
        )
    if (existing.doc or "") != column.doc:
        plan.schema_step(
            f"update doc of column {name}",
            lambda update: update.update_column(name, doc=column.doc),
        )


def _can_widen(current: IcebergType, wanted: IcebergType) -> bool:
    """The type promotions of the Iceberg spec (v2). pyiceberg's own check is looser (it lets
    string and binary swap and, in 0.12, a decimal change scale), so K2 states the rule."""
    if isinstance(current, IntegerType):
        return isinstance(wanted, LongType)
    if isinstance(current, FloatType):
        return isinstance(wanted, DoubleType)
    if isinstance(current, DecimalType) and isinstance(wanted, DecimalType):
        return wanted.scale == current.scale and wanted.precision > current.precision
    return False


def _reorder(order: list[str]) -> SchemaStep:
    def step(update: UpdateSchema) -> None:
        update.move_first(order[0])
        for previous, name in pairwise(order):
            update.move_after(name, previous)

    return step


def _plan_partition_spec(plan: _Plan, table: Table, definition: TableDefinition) -> None:
    schema = table.schema()
    current = {
        (schema.find_column_name(part.source_id), str(part.transform), part.name): part.name
        for part in table.spec().fields
    }
    wanted = {(part.source, str(part.transform), part.name): part for part in definition.partitions}
    if set(current) == set(wanted):
        return
    removed = [name for key, name in current.items() if key not in wanted]
    added = [part for key, part in wanted.items() if key not in current]

    def step(transaction: Transaction) -> None:
        with transaction.update_spec() as update:
            for name in removed:
                update.remove_field(name)
            for part in added:
                update.add_field(part.source, part.transform, part.name)

    described = ", ".join(f"{p.transform}({p.source})" for p in definition.partitions)
    plan.transaction_step(f"partition by {described or 'nothing'} from now on", step)


def _plan_sort_order(plan: _Plan, table: Table, definition: TableDefinition) -> None:
    schema = table.schema()
    current = [
        (schema.find_column_name(key.source_id), str(key.transform), key.direction, key.null_order)
        for key in table.sort_order().fields
    ]
    wanted = [
        (key.source, str(IdentityTransform()), key.direction, key.null_order)
        for key in definition.sort_order
    ]
    if current == wanted:
        return

    def step(transaction: Transaction) -> None:
        with transaction.update_sort_order() as update:
            for key in definition.sort_order:
                if key.descending:
                    update.desc(key.source, IdentityTransform(), key.null_order)
                else:
                    update.asc(key.source, IdentityTransform(), key.null_order)

    described = ", ".join(
        f"{key.source}{' desc' if key.descending else ''}" for key in definition.sort_order
    )
    plan.transaction_step(f"sort by {described or 'nothing'}", step)


def _plan_properties(plan: _Plan, table: Table, definition: TableDefinition) -> None:
    wanted = definition.iceberg_properties()
    wanted.pop(FORMAT_VERSION_PROPERTY, None)  # metadata, not a property; see the version step
    changed = {key: value for key, value in wanted.items() if table.properties.get(key) != value}
    if changed:
        plan.transaction_step(
            f"set properties {', '.join(sorted(changed))}",
            lambda transaction: transaction.set_properties(changed),
        )


# --- applying --------------------------------------------------------------------------------


def _apply(catalog: Catalog, plan: _Plan) -> TableChange:
    if plan.table is None:
        return _create(catalog, plan)
    if plan.changes:
        _evolve(plan.table, plan)
        for change in plan.changes:
            log.info("%s: %s", plan.identifier, change)
    return plan.change


def _create(catalog: Catalog, plan: _Plan) -> TableChange:
    definition = plan.definition
    try:
        catalog.create_table(
            plan.identifier,
            schema=definition.iceberg_schema(),
            partition_spec=definition.partition_spec(),
            sort_order=definition.iceberg_sort_order(),
            properties=definition.iceberg_properties(),
        )
    except TableAlreadyExistsError:
        # Created concurrently (another init, or a job's CREATE TABLE IF NOT EXISTS): evolve it.
        replanned = _plan_table(catalog, definition, plan.database)
        if replanned.incompatibilities:
            raise IncompatibleTableChange(replanned.incompatibilities) from None
        return _apply(catalog, replanned)
    log.info("%s: created", plan.identifier)
    return plan.change


def _evolve(table: Table, plan: _Plan) -> None:
    """Every change of the table in one transaction: one Glue commit, all or nothing."""
    with table.transaction() as transaction:
        if plan.schema_steps:
            with transaction.update_schema() as update:
                for schema_step in plan.schema_steps:
                    schema_step(update)
        for transaction_step in plan.transaction_steps:
            transaction_step(transaction)
