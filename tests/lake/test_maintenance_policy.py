"""Maintenance policies: layer defaults, overrides from table properties, refused settings."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from pyiceberg.types import LongType

from k2.domain.ohlcv import Timeframe
from k2.lake.maintenance_policy import (
    APPEND_STREAM_POLICY,
    MERGE_ON_READ_POLICY,
    MaintenancePolicy,
    is_merge_on_read,
    policy_for,
)
from k2.lake.table_definition import MERGE_ON_READ_PROPERTIES, Column, SortKey, TableDefinition
from k2.lake.tables import all_tables, gold_quotes_table, gold_trades_table, ohlcv_table

pytestmark = pytest.mark.unit

PLAIN = TableDefinition(name="plain", columns=(Column("id", LongType(), True, "row id"),))


def test_tables_written_by_merge_are_merge_on_read_and_every_other_table_append_only() -> None:
    merged = {gold_trades_table().name, gold_quotes_table().name}
    merged |= {ohlcv_table(timeframe).name for timeframe in Timeframe}
    for table in all_tables():
        assert is_merge_on_read(table) == (table.name in merged), table.name


def test_append_only_tables_compact_and_keep_days_of_snapshots_for_their_readers() -> None:
    for table in all_tables():
        if is_merge_on_read(table):
            continue
        policy = policy_for(table)
        assert policy == APPEND_STREAM_POLICY, table.name
        assert not policy.rewrite_deletes
        # A downstream stream stopped over a weekend still finds its checkpoint's snapshot.
        assert policy.snapshot_max_age >= timedelta(hours=62)
        assert policy.retain_last_snapshots >= 10
        assert policy.orphan_older_than >= timedelta(days=3)


def test_gold_also_rewrites_deletes_and_stays_sorted() -> None:
    for table in (gold_trades_table(), gold_quotes_table()):
        policy = policy_for(table)
        assert policy == replace(MERGE_ON_READ_POLICY, sort=True)
        assert policy.rewrite_deletes
        # Gold is read by streams too (OHLCV), and by time travel: the same retention.
        assert replace(policy, rewrite_deletes=False, sort=False) == APPEND_STREAM_POLICY


def test_target_file_size_follows_the_tables_write_property() -> None:
    assert APPEND_STREAM_POLICY.target_file_size_bytes == int(
        PLAIN.all_properties["write.target-file-size-bytes"]
    )
    small = replace(PLAIN, properties={"write.target-file-size-bytes": "1048576"})
    assert policy_for(small).target_file_size_bytes == 1024 * 1024


def test_overrides_from_table_properties() -> None:
    table = replace(
        PLAIN,
        properties={
            "history.expire.max-snapshot-age-ms": str(6 * 3600 * 1000),
            "history.expire.min-snapshots-to-keep": "7",
            "k2.maintenance.min-input-files": "2",
            "k2.maintenance.orphan-older-than-hours": "96",
            "k2.maintenance.rewrite-deletes": "TRUE",
        },
    )
    assert policy_for(table) == MaintenancePolicy(
        target_file_size_bytes=APPEND_STREAM_POLICY.target_file_size_bytes,
        min_input_files=2,
        snapshot_max_age=timedelta(hours=6),
        retain_last_snapshots=7,
        orphan_older_than=timedelta(hours=96),
        rewrite_deletes=True,
    )


def test_merge_on_read_is_read_from_any_row_level_write_mode() -> None:
    for mode in MERGE_ON_READ_PROPERTIES:
        table = replace(PLAIN, properties={mode: "merge-on-read"})
        assert is_merge_on_read(table)
        assert policy_for(table).rewrite_deletes
    assert not is_merge_on_read(replace(PLAIN, properties={"write.delete.mode": "copy-on-write"}))


def test_sort_follows_the_write_order_and_can_be_turned_off() -> None:
    sorted_table = replace(PLAIN, sort_order=(SortKey("id"),))
    assert policy_for(sorted_table).sort
    assert not policy_for(PLAIN).sort
    unsorted = replace(sorted_table, properties={"k2.maintenance.sort": "false"})
    assert not policy_for(unsorted).sort
    with pytest.raises(ValueError, match="no sort order"):
        policy_for(replace(PLAIN, properties={"k2.maintenance.sort": "true"}))


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("k2.maintenance.orphan-older-than-hours", "23", "in flight"),
        ("k2.maintenance.orphan-older-than-hours", "0", "in flight"),
        ("history.expire.min-snapshots-to-keep", "0", "retain_last_snapshots"),
        ("history.expire.max-snapshot-age-ms", "0", "snapshot_max_age"),
        ("k2.maintenance.min-input-files", "0", "min_input_files"),
        ("write.target-file-size-bytes", "-1", "target_file_size_bytes"),
        ("k2.maintenance.min-input-files", "five", "must be an integer"),
        ("k2.maintenance.rewrite-deletes", "yes", "true or false"),
    ],
)
def test_unsafe_or_malformed_overrides_are_refused_naming_the_table(
    key: str, value: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        policy_for(replace(PLAIN, properties={key: value}))
    assert "plain" in str(raised.value)


def test_a_policy_cannot_remove_orphans_younger_than_a_day() -> None:
    with pytest.raises(ValueError, match="in flight"):
        replace(APPEND_STREAM_POLICY, orphan_older_than=timedelta(hours=1))
