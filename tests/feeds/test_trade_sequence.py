"""TradeSequence: which trade ids of one symbol to publish, and which gaps to backfill.

The unit cases pin each verdict on small hand-written streams; the property replays what the
exchange connections really deliver (ids skipped, repeated, locally reordered by overlapping
connections) and checks the verdicts against an independent account of that stream.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from k2.feeds.trade_sequence import Admission, IdRange, TradeSequence

pytestmark = pytest.mark.unit

PUBLISH = Admission(publish=True)
DROP = Admission(publish=False)


def sequence_of(*ids: int) -> TradeSequence:
    """A sequence that has admitted ``ids`` in order."""
    sequence = TradeSequence()
    for trade_id in ids:
        sequence.admit(trade_id)
    return sequence


def runs(ids: set[int]) -> list[IdRange]:
    """``ids`` as sorted maximal contiguous runs (written independently of the module)."""
    result: list[IdRange] = []
    for trade_id in sorted(ids):
        if result and result[-1].last == trade_id - 1:
            result[-1] = IdRange(result[-1].first, trade_id)
        else:
            result.append(IdRange(trade_id, trade_id))
    return result


# -- IdRange -------------------------------------------------------------------------------------


def test_id_range_counts_both_ends_and_refuses_an_empty_range() -> None:
    assert len(IdRange(5, 5)) == 1
    assert len(IdRange(101, 104)) == 4
    assert str(IdRange(101, 104)) == "101..104"
    with pytest.raises(ValueError, match=r"empty id range 5\.\.4"):
        IdRange(5, 4)


# -- admit ---------------------------------------------------------------------------------------


def test_the_first_id_is_published_and_becomes_the_watermark() -> None:
    sequence = TradeSequence()
    assert sequence.watermark is None
    assert sequence.highest is None

    assert sequence.admit(1_000) == PUBLISH

    assert sequence.watermark == 1_000
    assert sequence.highest == 1_000


def test_contiguous_ids_are_published_without_gaps_and_advance_the_watermark() -> None:
    sequence = TradeSequence()
    verdicts = [sequence.admit(trade_id) for trade_id in range(100, 110)]

    assert verdicts == [PUBLISH] * 10
    assert sequence.watermark == 109
    assert sequence.highest == 109
    assert sequence.missing_within(IdRange(100, 109)) == []


def test_an_id_at_or_below_the_watermark_is_a_duplicate() -> None:
    sequence = sequence_of(100, 101, 102)

    assert sequence.admit(102) == DROP
    assert sequence.admit(101) == DROP
    assert sequence.admit(100) == DROP
    assert sequence.admit(7) == DROP  # older than anything seen: also refused
    assert (sequence.watermark, sequence.highest) == (102, 102)


def test_an_id_already_published_above_the_watermark_is_a_duplicate() -> None:
    sequence = sequence_of(100, 104, 106)
    assert sequence.watermark == 100

    assert sequence.admit(104) == DROP
    assert sequence.admit(106) == DROP  # the highest itself, repeated

    assert sequence.watermark == 100
    assert sequence.highest == 106
    assert sequence.missing_within(IdRange(101, 106)) == [IdRange(101, 103), IdRange(105, 105)]


def test_a_gap_is_reported_once_with_exact_bounds() -> None:
    sequence = sequence_of(100)

    assert sequence.admit(105) == Admission(publish=True, gap=IdRange(101, 104))
    # Neither the copy nor the next contiguous id reports the same hole again.
    assert sequence.admit(105) == DROP
    assert sequence.admit(106) == PUBLISH
    # A second hole is reported on its own, not merged with the first.
    assert sequence.admit(110) == Admission(publish=True, gap=IdRange(107, 109))
    assert sequence.admit(111) == PUBLISH
    assert sequence.watermark == 100
    assert sequence.highest == 111


def test_a_gap_of_one_id() -> None:
    assert sequence_of(100).admit(102) == Admission(publish=True, gap=IdRange(101, 101))


def test_filling_a_gap_reports_no_new_gap_and_moves_the_watermark_when_contiguous() -> None:
    sequence = sequence_of(100, 105)

    # Out of order inside the hole: published, no gap, the watermark waits for 101.
    assert sequence.admit(103) == PUBLISH
    assert sequence.watermark == 100
    assert sequence.missing_within(IdRange(101, 104)) == [IdRange(101, 102), IdRange(104, 104)]

    assert sequence.admit(101) == PUBLISH
    assert sequence.watermark == 101
    assert sequence.admit(102) == PUBLISH
    assert sequence.watermark == 103  # 103 was already there
    assert sequence.admit(104) == PUBLISH
    assert sequence.watermark == 105  # and 105 above it

    assert sequence.missing_within(IdRange(100, 105)) == []
    assert sequence.admit(103) == DROP
    assert sequence.highest == 105


# -- abandon -------------------------------------------------------------------------------------


def test_abandon_returns_only_the_still_missing_runs_and_lets_the_watermark_pass() -> None:
    sequence = sequence_of(100, 110, 103, 104, 107)
    assert sequence.watermark == 100

    missing = sequence.abandon(IdRange(101, 109))

    assert missing == [IdRange(101, 102), IdRange(105, 106), IdRange(108, 109)]
    assert sequence.watermark == 110
    assert sequence.highest == 110
    assert sequence.missing_within(IdRange(100, 110)) == []
    # An abandoned id that turns up late is behind the watermark now: not published twice.
    assert sequence.admit(105) == DROP
    # The stream carries on as if the hole had been filled.
    assert sequence.admit(111) == PUBLISH
    assert sequence.admit(113) == Admission(publish=True, gap=IdRange(112, 112))


def test_abandon_of_a_filled_range_returns_nothing_and_changes_nothing() -> None:
    sequence = sequence_of(100, 103, 101, 102)
    assert sequence.watermark == 103

    assert sequence.abandon(IdRange(101, 102)) == []
    assert sequence.abandon(IdRange(50, 103)) == []
    assert (sequence.watermark, sequence.highest) == (103, 103)


def test_abandon_stops_the_watermark_at_a_later_hole() -> None:
    sequence = sequence_of(100, 103, 106)  # holes 101..102 and 104..105

    assert sequence.abandon(IdRange(101, 102)) == [IdRange(101, 102)]

    assert sequence.watermark == 103
    assert sequence.missing_within(IdRange(100, 106)) == [IdRange(104, 105)]


def test_a_later_hole_abandoned_first_is_refused_and_passed_once_the_earlier_fills() -> None:
    sequence = sequence_of(100, 103, 106)  # holes 101..102 and 104..105

    assert sequence.abandon(IdRange(104, 105)) == [IdRange(104, 105)]
    assert sequence.watermark == 100
    assert sequence.missing_within(IdRange(100, 106)) == [IdRange(101, 102)]
    # Recorded as a gap already: a late copy is not published after all.
    assert sequence.admit(104) == DROP
    assert sequence.abandon(IdRange(104, 105)) == []

    assert sequence.admit(101) == PUBLISH
    assert sequence.admit(102) == PUBLISH
    assert sequence.watermark == 106
    assert sequence.admit(107) == PUBLISH


# -- missing_within ------------------------------------------------------------------------------


def test_missing_within_on_an_empty_sequence_is_the_whole_range() -> None:
    assert TradeSequence().missing_within(IdRange(3, 9)) == [IdRange(3, 9)]


def test_missing_within_ignores_ids_at_or_below_the_watermark() -> None:
    sequence = sequence_of(100, 101, 102, 104, 107)

    assert sequence.missing_within(IdRange(1, 102)) == []
    assert sequence.missing_within(IdRange(90, 108)) == [
        IdRange(103, 103),
        IdRange(105, 106),
        IdRange(108, 108),  # above the highest: not published either
    ]
    assert sequence.missing_within(IdRange(104, 104)) == []
    assert sequence.missing_within(IdRange(105, 105)) == [IdRange(105, 105)]


# -- resuming_with -------------------------------------------------------------------------------


def test_resuming_with_nothing_is_a_fresh_sequence() -> None:
    sequence = TradeSequence.resuming_with([])

    assert (sequence.watermark, sequence.highest) == (None, None)
    assert sequence.admit(42) == PUBLISH


def test_resuming_with_a_contiguous_run_continues_after_its_last_id() -> None:
    sequence = TradeSequence.resuming_with([500, 498, 499, 499])
    assert (sequence.watermark, sequence.highest) == (500, 500)

    assert sequence.admit(500) == DROP
    assert sequence.admit(498) == DROP
    assert sequence.admit(497) == DROP
    assert sequence.admit(501) == PUBLISH
    assert sequence.watermark == 501


def test_resuming_with_holes_keeps_them_missing_and_reports_the_ids_missed_while_stopped() -> None:
    sequence = TradeSequence.resuming_with(iter([503, 498, 500, 501]))
    assert (sequence.watermark, sequence.highest) == (498, 503)
    assert sequence.missing_within(IdRange(498, 503)) == [IdRange(499, 499), IdRange(502, 502)]

    assert sequence.admit(501) == DROP  # published before the restart
    assert sequence.admit(510) == Admission(publish=True, gap=IdRange(504, 509))
    assert sequence.admit(499) == PUBLISH  # a backfilled hole
    assert sequence.watermark == 501
    assert sequence.missing_within(IdRange(498, 510)) == [IdRange(502, 502), IdRange(504, 509)]


# -- the property --------------------------------------------------------------------------------


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[int], set[int]]:
    """(ids in delivery order, ids never delivered) for one contiguous run of trades.

    Some ids are skipped, some delivered more than once (close to the original, as a second
    connection or a snapshot repeats them), and the order is shuffled locally: no id moves more
    than ``window`` places, as two overlapping connections interleave.
    """
    first = draw(st.integers(min_value=0, max_value=2**62))
    count = draw(st.integers(min_value=1, max_value=150))
    ids = list(range(first, first + count))
    skipped = set(draw(st.lists(st.sampled_from(ids), max_size=count, unique=True)))
    kept = [trade_id for trade_id in ids if trade_id not in skipped]

    stream: list[int] = []
    for trade_id in kept:
        stream.extend([trade_id] * draw(st.integers(min_value=1, max_value=3)))
    window = draw(st.integers(min_value=0, max_value=8))
    jitter = draw(
        st.lists(
            st.integers(min_value=0, max_value=window), min_size=len(stream), max_size=len(stream)
        )
    )
    order = sorted(range(len(stream)), key=lambda index: index + jitter[index])
    return [stream[index] for index in order], skipped


@settings(max_examples=400, deadline=None)
@given(deliveries())
def test_every_delivered_id_once_and_every_hole_reported_and_fillable(
    delivery: tuple[list[int], set[int]],
) -> None:
    stream, skipped = delivery
    sequence = TradeSequence()
    published: list[int] = []
    gaps: list[IdRange] = []
    first_arrival: dict[int, int] = {}

    for position, trade_id in enumerate(stream):
        first_arrival.setdefault(trade_id, position)
        admission = sequence.admit(trade_id)
        if admission.gap is not None:
            assert admission.publish
            # A gap only ever names ids not published yet.
            assert not set(published) & set(range(admission.gap.first, admission.gap.last + 1))
            gaps.append(admission.gap)
        if admission.publish:
            published.append(trade_id)

    if not stream:
        assert sequence.watermark is None
        return

    first = stream[0]
    highest = max(stream)
    assert sequence.highest == highest

    # (1) Every distinct id delivered is published exactly once, except the ids older than the
    # first one admitted: the sequence starts there and has no way to tell them from copies.
    assert len(published) == len(set(published))
    assert set(published) == {trade_id for trade_id in stream if trade_id >= first}

    # Gaps are reported once each: pairwise disjoint.
    gap_ids = [trade_id for gap in gaps for trade_id in range(gap.first, gap.last + 1)]
    assert len(gap_ids) == len(set(gap_ids))
    # Exactly the ids between the first and the highest that, when a higher id arrived, had not
    # arrived themselves (never delivered, or delivered later by the reordering).
    expected_gap_ids = {
        trade_id
        for trade_id in range(first + 1, highest)
        if any(
            arrival < first_arrival.get(trade_id, math.inf)
            for later_id, arrival in first_arrival.items()
            if later_id > trade_id
        )
    }
    assert set(gap_ids) == expected_gap_ids

    # (2) Every skipped id between the first and the highest lies within a reported gap.
    assert {trade_id for trade_id in skipped if first < trade_id < highest} <= set(gap_ids)

    # The watermark is the top of the contiguous run published from the first id; the rest of
    # the range is missing, in the runs the test computes on its own.
    unpublished = set(range(first, highest + 1)) - set(published)
    assert sequence.watermark == (min(unpublished) - 1 if unpublished else highest)
    assert sequence.missing_within(IdRange(first, highest)) == runs(unpublished)

    # (3) Backfilling every reported gap publishes exactly the ids still missing, reports no
    # new gap, and leaves the whole range published with the watermark at the highest id.
    backfilled: list[int] = []
    for gap in gaps:
        for trade_id in range(gap.first, gap.last + 1):
            admission = sequence.admit(trade_id)
            assert admission.gap is None
            if admission.publish:
                backfilled.append(trade_id)
    assert sorted(backfilled) == sorted(unpublished)
    assert sequence.missing_within(IdRange(first, highest)) == []
    assert sequence.watermark == highest
    assert sequence.highest == highest
