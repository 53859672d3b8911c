"""`k2 cost`: runs offline, prints the three rates, refuses a bad config, and docs/cost.md
embeds exactly what `k2 cost --markdown --detail` prints today."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from k2.cli import app

pytestmark = pytest.mark.unit

DOC = Path(__file__).resolve().parents[2] / "docs" / "cost.md"
BEGIN = "<!-- BEGIN k2 cost --markdown --detail -->\n"
END = "<!-- END k2 cost --markdown --detail -->"


def test_cost_prints_the_three_default_rates() -> None:
    result = CliRunner().invoke(app, ["cost"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for rate in ("1,000", "10,000", "100,000"):
        assert rate in result.output
    assert "USD per million" in result.output


def test_detail_shows_the_arithmetic_of_every_line() -> None:
    result = CliRunner().invoke(app, ["cost", "--rate", "500", "--detail"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert "cluster-hours" in result.output
    assert "730" in result.output


def test_rates_are_repeatable_and_markdown_is_plain_text() -> None:
    result = CliRunner().invoke(app, ["cost", "--rate", "2000", "--rate", "3000", "--markdown"])
    assert result.exit_code == 0, result.output
    assert "| 2,000 |" in result.output and "| 3,000 |" in result.output
    assert "| 1,000 |" not in result.output


def test_a_config_file_is_priced(tmp_path: Path) -> None:
    path = tmp_path / "k2.json"
    path.write_text(json.dumps({"engine": "emr-serverless", "msk": "provisioned"}))
    result = CliRunner().invoke(app, ["cost", "--config", str(path), "--markdown"])
    assert result.exit_code == 0, result.output
    assert "engine=emr-serverless, msk=provisioned" in result.output


@pytest.mark.parametrize(
    "content",
    ['{"engine": "spark-on-a-laptop"}', '{"unknown_field": 1}', "not json"],
)
def test_an_invalid_config_is_a_clear_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    result = CliRunner().invoke(app, ["cost", "--config", str(path)])
    assert result.exit_code == 2
    assert "invalid deployment config" in result.output


def test_a_missing_config_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["cost", "--config", str(tmp_path / "nope.json")])
    assert result.exit_code == 2
    assert "invalid deployment config" in result.output


def test_docs_cost_md_embeds_what_k2_cost_prints_today() -> None:
    result = CliRunner().invoke(app, ["cost", "--markdown", "--detail"])
    assert result.exit_code == 0, result.output
    text = DOC.read_text()
    embedded = text[text.index(BEGIN) + len(BEGIN) : text.index(END)]
    assert embedded == result.output, (
        "docs/cost.md is stale: regenerate the block between the markers with "
        "`.venv/bin/k2 cost --markdown --detail`"
    )
