"""The cost model rendered for people: rich tables for the terminal, Markdown for docs/cost.md.

``docs/cost.md`` embeds :func:`markdown_report` verbatim (``k2 cost --markdown --detail``), and
a test compares the two, so the document cannot drift from the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from rich.table import Table

from k2.cost.message_size import WIRE_OVERHEAD_BYTES, message_size
from k2.cost.model import CostBreakdown, CostKind, estimate
from k2.cost.numbers import num, unit_price, usd
from k2.cost.prices import MSK_BROKER_HOURLY, PRICES, PRICES_DATE, REGION, Price
from k2.cost.workload import DEFAULT_WORKLOAD, Workload
from k2.deployment.config import DeploymentConfig, Engine, MskMode
from k2.domain.markets import DataType, Exchange

DEFAULT_RATES = (1_000, 10_000, 100_000)


def per_million(breakdown: CostBreakdown) -> str:
    return f"${breakdown.usd_per_million_messages:,.4f}"


def summary_table(breakdowns: Sequence[CostBreakdown]) -> Table:
    table = Table(
        "msgs/s",
        "monthly USD",
        "USD per million",
        "fixed",
        "volume",
        "usage",
        title=_title(breakdowns[0]),
    )
    for b in breakdowns:
        table.add_row(
            num(b.rate),
            usd(b.monthly_usd),
            per_million(b),
            *(usd(b.total(kind)) for kind in CostKind),
        )
    return table


def detail_table(breakdown: CostBreakdown) -> Table:
    table = Table(
        "service",
        "item",
        "kind",
        "arithmetic",
        "monthly USD",
        title=f"line items at {num(breakdown.rate)} msgs/s",
    )
    for line in breakdown.line_items:
        table.add_row(
            line.service, line.item, line.kind.value, line.arithmetic, usd(line.monthly_usd)
        )
    table.add_row("total", "", "", "", usd(breakdown.monthly_usd))
    return table


def _title(breakdown: CostBreakdown) -> str:
    return (
        f"K2 monthly cost, engine={breakdown.engine.value}, msk={breakdown.msk.value} "
        f"({REGION} on-demand prices of {PRICES_DATE.isoformat()})"
    )


def alternatives(config: DeploymentConfig) -> list[tuple[str, DeploymentConfig]]:
    """The configured deployment and the same with the other Spark engine and/or MSK mode."""
    other_engine = Engine.EMR_SERVERLESS if config.engine is Engine.GLUE else Engine.GLUE
    other_msk = MskMode.PROVISIONED if config.msk is MskMode.SERVERLESS else MskMode.SERVERLESS
    variants = [
        config,
        config.model_copy(update={"engine": other_engine}),
        config.model_copy(update={"msk": other_msk}),
        config.model_copy(update={"engine": other_engine, "msk": other_msk}),
    ]
    return [(f"{v.engine.value} + MSK {v.msk.value}", v) for v in variants]


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]], right: int = 0) -> str:
    """A GitHub Markdown table; the last ``right`` columns are right-aligned."""
    align = ["---"] * (len(header) - right) + ["---:"] * right
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def markdown_summary(breakdowns: Sequence[CostBreakdown]) -> str:
    rows = [
        [
            num(b.rate),
            num(b.messages_per_month),
            usd(b.monthly_usd),
            per_million(b),
            *(usd(b.total(kind)) for kind in CostKind),
        ]
        for b in breakdowns
    ]
    header = ["msgs/s", "messages/month", "monthly USD", "USD per million messages"]
    header += ["fixed", "volume-proportional", "usage (API, Athena)"]
    return _md_table(header, rows, right=len(header))


def markdown_alternatives(
    config: DeploymentConfig, rates: Sequence[int], workload: Workload
) -> str:
    rows, notes = [], []
    base = {note for rate in rates for note in estimate(config, rate, workload).notes}
    for label, variant in alternatives(config):
        cells = [label]
        for rate in rates:
            b = estimate(variant, rate, workload)
            cells.append(f"{usd(b.monthly_usd)} ({per_million(b)}/M)")
            notes += [f"- {label} at {num(b.rate)} msgs/s: {n}" for n in b.notes if n not in base]
        rows.append(cells)
    header = ["Spark engine + Kafka", *(f"{num(Decimal(r))} msgs/s" for r in rates)]
    table = _md_table(header, rows, right=len(rates))
    return "\n\n".join([table, *(["\n".join(dict.fromkeys(notes))] if notes else [])])


def markdown_services(breakdowns: Sequence[CostBreakdown]) -> str:
    services = list(breakdowns[-1].service_totals())
    rows = []
    for service in services:
        cells = [service]
        for b in breakdowns:
            total = b.service_totals().get(service, Decimal(0))
            cells.append(f"{usd(total)} ({total / b.monthly_usd:.0%})")
        rows.append(cells)
    header = ["service", *(f"{num(b.rate)} msgs/s" for b in breakdowns)]
    return _md_table(header, rows, right=len(breakdowns))


def markdown_prices() -> str:
    entries: list[tuple[str, Price]] = [(p.description, p) for _, p in PRICES.items()]
    entries += [(p.description, p) for p in MSK_BROKER_HOURLY.values()]
    rows = [
        [
            description,
            unit_price(p.usd),
            p.unit,
            p.source,
            f"yes: {p.checked_against}" if p.checked else "**not re-checked**",
        ]
        for description, p in entries
    ]
    return _md_table(["price", "USD", "per", "published at", "re-checked"], rows)


def markdown_message_sizes() -> str:
    rows = []
    for exchange in Exchange:
        for data_type in DataType:
            size = message_size(exchange, data_type)
            rows.append(
                [
                    f"{exchange.value} {data_type.value}",
                    str(size.key_bytes),
                    str(size.value_bytes),
                    str(size.kafka_bytes),
                    num(size.websocket_json_bytes),
                    num(size.wire_bytes),
                ]
            )
    header = ["record", "key B", "value B (GSR header + Avro)", "on Kafka B", "JSON B"]
    header.append(f"on the wire B (JSON + {WIRE_OVERHEAD_BYTES})")
    return _md_table(header, rows, right=5)


def markdown_detail(breakdown: CostBreakdown) -> str:
    rows = [
        [line.service, line.item, line.kind.value, line.arithmetic, usd(line.monthly_usd)]
        for line in breakdown.line_items
    ]
    rows.append(["**total**", "", "", "", f"**{usd(breakdown.monthly_usd)}**"])
    return _md_table(["service", "item", "kind", "arithmetic", "monthly USD"], rows, right=1)


def markdown_notes(breakdowns: Sequence[CostBreakdown]) -> str:
    lines = []
    for b in breakdowns:
        for note in b.notes:
            lines.append(f"- at {num(b.rate)} msgs/s: {note}")
    return "\n".join(lines) if lines else "- none"


def markdown_report(
    config: DeploymentConfig,
    rates: Sequence[int] = DEFAULT_RATES,
    workload: Workload = DEFAULT_WORKLOAD,
    detail: bool = False,
) -> str:
    """What ``k2 cost --markdown [--detail]`` prints."""
    breakdowns = [estimate(config, rate, workload) for rate in rates]
    parts = [
        f"#### {_title(breakdowns[0])}",
        markdown_summary(breakdowns),
        "#### By service",
        markdown_services(breakdowns),
        "#### Alternatives (monthly USD, and USD per million messages)",
        markdown_alternatives(config, rates, workload),
        "#### What the configured resources cannot carry",
        markdown_notes(breakdowns),
    ]
    if detail:
        parts += [
            f"#### Prices ({REGION}, on-demand, taken {PRICES_DATE.isoformat()})",
            markdown_prices(),
            "#### Bytes per message (measured with the feed handler's encoder)",
            markdown_message_sizes(),
        ]
        for b in breakdowns:
            parts += [f"#### Line items at {num(b.rate)} msgs/s", markdown_detail(b)]
    return "\n\n".join(parts) + "\n"
