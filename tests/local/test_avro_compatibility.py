"""Our layer over Apache avro's compatibility checker: reasons, compatibility modes, errors.

The resolution rules themselves are the library's; the table below is a representative sample
that pins the verdicts the registry relies on and that each reason names the reader path it
applies to. The library's wording is not asserted.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from k2.local.avro_compatibility import (
    COMPATIBILITY_MODES,
    InvalidSchemaError,
    can_read,
    check_compatibility,
)

pytestmark = pytest.mark.unit


def record(name: str, *fields: dict[str, Any], **attributes: Any) -> dict[str, Any]:
    return {"type": "record", "name": name, "fields": list(fields), **attributes}


def field(name: str, avro_type: Any, **attributes: Any) -> dict[str, Any]:
    return {"name": name, "type": avro_type, **attributes}


def wrap(avro_type: Any) -> dict[str, Any]:
    """A one-field record around ``avro_type``, so reasons carry the path ``T.x``."""
    return record("T", field("x", avro_type))


def paths(reasons: list[str]) -> set[str]:
    """The reader paths the reasons start with (``Trade.a, Trade.b: ...`` names two)."""
    return {path for reason in reasons for path in reason.split(": ", 1)[0].split(", ")}


def enum(*symbols: str, **attributes: Any) -> dict[str, Any]:
    return {"type": "enum", "name": "Side", "symbols": list(symbols), **attributes}


def fixed(name: str, size: int) -> dict[str, Any]:
    return {"type": "fixed", "name": name, "size": size}


def array(items: Any) -> dict[str, Any]:
    return {"type": "array", "items": items}


def a_map(values: Any) -> dict[str, Any]:
    return {"type": "map", "values": values}


TRADE = record("Trade", field("price", "string"))
TRADE_WITH_VENUE = record("Trade", field("price", "string"), field("venue", "string"))
TRADE_WITH_OPTIONAL_VENUE = record(
    "Trade", field("price", "string"), field("venue", ["null", "string"], default=None)
)
TRADE_QTY = record("Trade", field("qty", "string"))
TRADE_QUANTITY_ALIAS_QTY = record("Trade", field("quantity", "string", aliases=["qty"]))
TIMESTAMP = {"type": "long", "logicalType": "timestamp-micros"}


# --- resolution rules: (reader, writer, the path a reason names, or None if compatible) ---------

RESOLUTION = {
    # primitives and promotions
    "int-read-as-long": (wrap("long"), wrap("int"), None),
    "string-read-as-bytes": (wrap("bytes"), wrap("string"), None),
    "long-read-as-int": (wrap("int"), wrap("long"), "T.x"),
    "logical-type-ignored": (wrap(TIMESTAMP), wrap("long"), None),
    # record fields
    "added-field-with-default": (TRADE_WITH_OPTIONAL_VENUE, TRADE, None),
    "added-field-without-default": (TRADE_WITH_VENUE, TRADE, "Trade.venue"),
    "renamed-field-reader-alias": (TRADE_QUANTITY_ALIAS_QTY, TRADE_QTY, None),
    "renamed-field-alias-is-the-readers": (TRADE_QTY, TRADE_QUANTITY_ALIAS_QTY, "Trade.qty"),
    "nested-record-field": (
        record("Trade", field("leg", record("Leg", field("price", "double")))),
        record("Trade", field("leg", record("Leg", field("price", "string")))),
        "Trade.leg.price",
    ),
    "record-renamed": (
        record("Deal", field("a", "int"), namespace="io.k2"),
        record("Trade", field("a", "int"), namespace="io.k2"),
        "Deal",
    ),
    "record-renamed-reader-alias": (
        record("Deal", field("a", "int"), namespace="io.k2", aliases=["io.k2.Trade"]),
        record("Trade", field("a", "int"), namespace="io.k2"),
        None,
    ),
    # enums
    "enum-writer-symbol-unknown": (wrap(enum("BUY")), wrap(enum("BUY", "CROSS")), "T.x"),
    "enum-reader-default-absorbs": (
        wrap(enum("BUY", "OTHER", default="OTHER")),
        wrap(enum("BUY", "CROSS")),
        None,
    ),
    # unions
    "value-no-union-branch": (wrap(["null", "string"]), wrap("long"), "T.x"),
    "union-writer-branch-added": (
        wrap(["null", "string"]),
        wrap(["null", "string", "long"]),
        "T.x",
    ),
    "nullable-made-required": (wrap("string"), wrap(["null", "string"]), "T.x"),
    # fixed, arrays, maps
    "fixed-size-differs": (wrap(fixed("Hash", 32)), wrap(fixed("Hash", 16)), "T.x"),
    "map-values": (wrap(a_map("string")), wrap(a_map("boolean")), "T.x{}"),
    "array-of-records": (
        wrap(array(record("Leg", field("px", "int")))),
        wrap(array(record("Leg", field("px", "long")))),
        "T.x[].px",
    ),
}


@pytest.mark.parametrize(("reader", "writer", "path"), RESOLUTION.values(), ids=RESOLUTION)
def test_resolution(reader: dict[str, Any], writer: dict[str, Any], path: str | None) -> None:
    reasons = can_read(reader, writer)
    if path is None:
        assert reasons == []
    else:
        assert reasons
        assert paths(reasons) == {path}


# --- reasons ----------------------------------------------------------------------------------


def test_every_problem_is_reported_with_its_field() -> None:
    old = record("Trade", field("price", "string"), field("size", "string"))
    new = record("Trade", field("price", "long"), field("size", "long"), field("id", "long"))
    assert paths(can_read(new, old)) == {"Trade.price", "Trade.size", "Trade.id"}


def test_a_single_problem_is_one_reason_with_its_kind_and_detail() -> None:
    [reason] = can_read(wrap("long"), wrap("string"))
    assert reason.startswith("T.x: type mismatch: ")
    assert "long" in reason
    assert "string" in reason


def test_each_writer_union_branch_the_reader_cannot_read_is_a_reason() -> None:
    reasons = can_read(wrap("long"), wrap(["null", "string", "int"]))
    assert len(reasons) == 2  # null and string; int promotes
    assert paths(reasons) == {"T.x"}


def test_top_level_types_have_a_root_path() -> None:
    assert can_read('"long"', '"int"') == []
    assert paths(can_read('"int"', '"long"')) == {"(root)"}


def test_recursive_types_terminate() -> None:
    def linked(value_type: str) -> dict[str, Any]:
        return record(
            "Node", field("value", value_type), field("next", ["null", "Node"], default=None)
        )

    assert can_read(linked("long"), linked("int")) == []
    assert paths(can_read(linked("int"), linked("long"))) == {"Node.value"}


def test_definitions_may_be_json_text_or_loaded_json() -> None:
    assert can_read(json.dumps(TRADE_WITH_VENUE), TRADE) == can_read(TRADE_WITH_VENUE, TRADE)


@pytest.mark.parametrize(
    "definition",
    [
        "{not json",
        json.dumps(wrap("Unknown")),
        json.dumps(record("T", field("a", fixed("F", 1)), field("b", fixed("F", 1)))),
    ],
    ids=["not-json", "unknown-type", "name-defined-twice"],
)
def test_invalid_schemas_raise_our_error(definition: str) -> None:
    with pytest.raises(InvalidSchemaError):
        can_read(definition, '"null"')
    with pytest.raises(InvalidSchemaError):
        check_compatibility("BACKWARD", '"null"', [definition])


# --- compatibility modes ----------------------------------------------------------------------

SYMBOL = field("symbol", "string")
BID = field("bid", "long")  # required
ASK = field("ask", ["null", "long"], default=None)  # optional

BASE = json.dumps(record("Quote", SYMBOL))
WITH_BID = json.dumps(record("Quote", SYMBOL, BID))
WITH_ASK = json.dumps(record("Quote", SYMBOL, ASK))
WITH_BID_ASK = json.dumps(record("Quote", SYMBOL, BID, ASK))
OTHER = json.dumps(record("Other", field("x", "int")))


@pytest.mark.parametrize(
    ("mode", "previous", "new", "compatible"),
    [
        ("NONE", [WITH_BID], OTHER, True),
        # BACKWARD: the new schema reads the latest previous one
        ("BACKWARD", [WITH_BID], BASE, True),  # dropping a field
        ("BACKWARD", [BASE], WITH_BID, False),  # adding a required field
        # FORWARD: the latest previous schema reads the new one
        ("FORWARD", [BASE], WITH_BID, True),
        ("FORWARD", [WITH_BID], BASE, False),  # dropping a field the old reader requires
        # FULL: both directions
        ("FULL", [BASE], WITH_BID, False),
        ("FULL", [BASE], WITH_ASK, True),
        # the plain modes look at the latest version only, the _ALL modes at every one
        ("BACKWARD", [BASE, WITH_BID], WITH_BID_ASK, True),
        ("BACKWARD_ALL", [BASE, WITH_BID], WITH_BID_ASK, False),
        ("FORWARD_ALL", [WITH_BID, BASE], WITH_ASK, False),
        ("FULL_ALL", [WITH_BID, BASE], WITH_ASK, False),
    ],
)
def test_compatibility_modes(mode: str, previous: list[str], new: str, compatible: bool) -> None:
    assert (check_compatibility(mode, new, previous) == []) is compatible


def test_the_first_version_is_accepted_in_every_mode() -> None:
    for mode in COMPATIBILITY_MODES:
        assert check_compatibility(mode, WITH_BID, []) == [], mode


def test_disabled_refuses_any_new_version() -> None:
    [reason] = check_compatibility("DISABLED", BASE, [BASE])
    assert "DISABLED" in reason


def test_reasons_name_the_direction_the_previous_schema_and_the_field() -> None:
    [backward] = check_compatibility("BACKWARD_ALL", WITH_BID_ASK, [BASE, WITH_BID])
    assert backward.startswith(
        "the new schema cannot read data written with previous schema 1 of 2: Quote.bid: "
    )
    [forward] = check_compatibility("FORWARD", BASE, [WITH_BID])
    assert forward.startswith(
        "previous schema 1 of 1 cannot read data written with the new schema: Quote.bid: "
    )


def test_full_reports_both_directions() -> None:
    old = json.dumps(wrap("int"))
    new = json.dumps(wrap("string"))
    reasons = check_compatibility("FULL", new, [old])
    assert len(reasons) == 2
    assert reasons[0].startswith("the new schema cannot read data written with previous schema")
    assert reasons[1].startswith("previous schema 1 of 1 cannot read data written with the new")


def test_unknown_mode_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown compatibility mode 'SIDEWAYS'"):
        check_compatibility("SIDEWAYS", BASE, [BASE])
