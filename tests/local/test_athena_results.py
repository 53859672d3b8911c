"""Athena's result files: the CSV's quoting rules (checked byte for byte and with Python's csv
reader), the metadata JSON, and both written to the local cloud's S3 where Athena puts them."""

from __future__ import annotations

import csv
import io
import json

import pytest

from k2.aws import aws_client
from k2.local.athena_results import (
    result_location,
    results_csv,
    results_metadata,
    write_results,
)
from k2.query.athena_execution import AthenaColumn, AthenaResult
from k2.settings import K2Settings

RESULT = AthenaResult(
    columns=(
        AthenaColumn("symbol", "varchar", 2147483647, 0),
        AthenaColumn("price", "decimal", 38, 18),
        AthenaColumn("note", "varchar", 2147483647, 0),
    ),
    rows=[
        ("BTCUSDT", "100.000000000000000000", 'a "quoted", comma'),
        ("ETHUSDT", None, ""),
        ("multi\nline", "1.500000000000000000", None),
    ],
    data_scanned_bytes=10,
)


@pytest.mark.unit
def test_csv_quotes_every_value_and_leaves_null_empty() -> None:
    assert results_csv(RESULT) == (
        b'"symbol","price","note"\n'
        b'"BTCUSDT","100.000000000000000000","a ""quoted"", comma"\n'
        b'"ETHUSDT",,""\n'
        b'"multi\nline","1.500000000000000000",\n'
    )
    parsed = list(csv.reader(io.StringIO(results_csv(RESULT).decode())))
    assert parsed[0] == ["symbol", "price", "note"]
    assert parsed[1] == ["BTCUSDT", "100.000000000000000000", 'a "quoted", comma']
    assert parsed[3] == ["multi\nline", "1.500000000000000000", ""]


@pytest.mark.unit
def test_metadata_is_the_result_set_metadata() -> None:
    info = json.loads(results_metadata(RESULT))["ColumnInfo"]
    assert [(c["Name"], c["Type"], c["Precision"], c["Scale"]) for c in info] == [
        ("symbol", "varchar", 2147483647, 0),
        ("price", "decimal", 38, 18),
        ("note", "varchar", 2147483647, 0),
    ]
    assert all(c["Nullable"] == "UNKNOWN" and c["CaseSensitive"] is False for c in info)


@pytest.mark.unit
def test_result_location_with_or_without_the_slash() -> None:
    assert result_location("s3://b/p/", "q1") == "s3://b/p/q1.csv"
    assert result_location("s3://b/p", "q1") == "s3://b/p/q1.csv"
    assert result_location("s3://b", "q1") == "s3://b/q1.csv"
    with pytest.raises(ValueError, match="s3://"):
        result_location("/tmp/x", "q1")


@pytest.mark.integration
def test_results_are_written_to_the_output_location(k2_settings: K2Settings) -> None:
    s3 = aws_client("s3", k2_settings)
    bucket = k2_settings.athena_results_bucket
    location = write_results(s3, f"s3://{bucket}/athena-results-test/", "q-123", RESULT)
    assert location == f"s3://{bucket}/athena-results-test/q-123.csv"
    body = s3.get_object(Bucket=bucket, Key="athena-results-test/q-123.csv")["Body"].read()
    assert body == results_csv(RESULT)
    metadata = s3.get_object(Bucket=bucket, Key="athena-results-test/q-123.csv.metadata")
    assert json.loads(metadata["Body"].read())["ColumnInfo"][1]["Type"] == "decimal"
