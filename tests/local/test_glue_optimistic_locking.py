"""Glue UpdateTable honours VersionId, so concurrent Iceberg commits retry instead of vanishing."""

from __future__ import annotations

from pathlib import Path

import pytest

from k2.aws import aws_client
from k2.local.commit_race import ROWS_PER_COMMIT, run_race
from k2.settings import K2Settings

pytestmark = pytest.mark.integration


def test_update_table_with_a_stale_version_id_is_rejected(k2_settings: K2Settings) -> None:
    glue = aws_client("glue", k2_settings)
    database = k2_settings.glue_database
    table_input = {"Name": "version_check", "Parameters": {"generation": "1"}}
    glue.create_table(DatabaseName=database, TableInput=table_input)
    version = glue.get_table(DatabaseName=database, Name="version_check")["Table"]["VersionId"]

    glue.update_table(
        DatabaseName=database,
        TableInput={**table_input, "Parameters": {"generation": "2"}},
        VersionId=version,
    )
    with pytest.raises(glue.exceptions.ConcurrentModificationException):
        glue.update_table(
            DatabaseName=database,
            TableInput={**table_input, "Parameters": {"generation": "3"}},
            VersionId=version,  # stale: the table moved on
        )
    current = glue.get_table(DatabaseName=database, Name="version_check")["Table"]
    assert current["Parameters"] == {"generation": "2"}


def test_two_processes_committing_concurrently_lose_no_rows(
    k2_settings: K2Settings, tmp_path: Path
) -> None:
    result = run_race(
        k2_settings, f"{k2_settings.glue_database}.concurrent_commits", tmp_path, commits=25
    )
    assert result.writer_errors == ()
    assert result.rows_landed == result.rows_expected == 2 * 25 * ROWS_PER_COMMIT
    assert result.distinct_rows_landed == result.rows_expected
    assert result.snapshots == 2 * 25
    assert result.retries > 0, "the retry path was never exercised"
