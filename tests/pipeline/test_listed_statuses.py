"""The connector statuses a run holds from its station listing to its load
(sources/wirelane/statuses.py), and the digests the load compares them by
(pipelines/connector_status.py)."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from pipelines.connector_status import row_digest
from sources.wirelane.statuses import ConnectorStatus, ListedStatuses
from tests.pipeline.live_memory import held_by

texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
instants = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)  # parse_timestamp gives UTC
statuses = st.builds(ConnectorStatus, texts, texts, texts, st.none() | texts, st.none() | instants)


@given(st.lists(st.lists(statuses, max_size=6), max_size=5))
def test_listed_statuses_give_back_what_was_listed_in_order(pages: list[list[ConnectorStatus]]) -> None:
    listed = ListedStatuses()
    for page in pages:
        listed.add(page)
    expected = [one for page in pages for one in page]
    restored = pickle.loads(pickle.dumps(listed.copy()))  # noqa: S301 - the handoff's way
    for held in (listed, restored):
        assert len(held) == len(expected)
        assert list(held) == expected


@given(statuses, st.integers(min_value=-12, max_value=14))
def test_a_status_digest_is_the_same_for_the_same_instant_in_any_zone(one: ConnectorStatus, hours: int) -> None:
    fields = (one.organization_id, one.station_id, one.evse_id, one.status)
    shifted = None if one.updated_at is None else one.updated_at.astimezone(timezone(timedelta(hours=hours)))
    assert row_digest(*fields, one.updated_at) == row_digest(*fields, shifted)
    later = (one.updated_at or datetime(2024, 1, 1, tzinfo=UTC)) + timedelta(microseconds=1)
    assert row_digest(*fields, one.updated_at) != row_digest(*fields, later)
    assert row_digest(*fields, one.updated_at) != row_digest(*fields[:3], f"{one.status}x", one.updated_at)


def test_listed_statuses_take_a_tenth_of_the_memory_or_less() -> None:
    """20,100 connectors (3,000,000 sessions), three a station, pages of 50 stations; each value
    its own string, as parsing the listing makes them."""

    def connectors(first: int, last: int) -> list[ConnectorStatus]:
        return [
            ConnectorStatus(
                "DEMOTENANT",
                str(50000 + n),
                f"DE*WLN*E{n:06d}*{c}",
                ("AVAILABLE", "CHARGING", "OCCUPIED")[(n + c) % 3],
                datetime(2026, 12, 7, tzinfo=UTC) + timedelta(seconds=n * 7919 + c * 61, microseconds=n),
            )
            for n in range(first, last)
            for c in range(3)
        ]

    def as_pages() -> ListedStatuses:
        listed = ListedStatuses()
        for first in range(0, 6_700, 50):
            listed.add(connectors(first, first + 50))
        return listed

    assert held_by(as_pages) * 10 < held_by(lambda: connectors(0, 6_700))
