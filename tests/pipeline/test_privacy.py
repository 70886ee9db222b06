"""Personal data is pseudonymized on the way in: no e-mail address, name, street, payment label,
card number, identification value or session secret reaches the warehouse in clear, and the
pseudonyms are stable keyed hashes, so joins still work."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines import load
from sources.wirelane import changes
from sources.wirelane.arrow_batches import NotTabular, page_table, replace_strings
from sources.wirelane.errors import WirelaneConfigError
from sources.wirelane.privacy import PERSONAL_FIELDS, SIMULATOR_KEY, Pseudonymizer, build_pseudonymizer
from tests.pipeline.conftest import Workspace
from tests.pipeline.test_load import api_sessions


def _values_at(document: Any, path: tuple[str, ...]) -> list[str]:
    """The strings at `path` in a document (`*` steps into every list item)."""
    if not path:
        return [document] if isinstance(document, str) and document else []
    step, rest = path[0], path[1:]
    if step == "*":
        return [v for item in (document if isinstance(document, list) else []) for v in _values_at(item, rest)]
    return _values_at(document.get(step), rest) if isinstance(document, dict) else []


def personal_values(ws: Workspace) -> dict[str, set[str]]:
    """Every personal value the API serves, per resource, read straight from the API."""
    found: dict[str, set[str]] = {name: set() for name in PERSONAL_FIELDS}
    for session in api_sessions(ws).values():
        found["sessions"].update(v for p in PERSONAL_FIELDS["sessions"] for v in _values_at(session, p))
    for org in ws.api.organizations:
        for member in ws.api.get_all(f"/organizations/id/{org}/members"):
            found["members"].update(v for p in PERSONAL_FIELDS["members"] for v in _values_at(member, p))
            account = (member.get("account") or {}).get("account_id")
            if account:
                method = ws.api.get(f"/organizations/id/{org}/members/aid/{account}/payment_method")
                if method.status_code == 200:
                    found["member_payment_methods"].update(
                        v for p in PERSONAL_FIELDS["member_payment_methods"] for v in _values_at(method.json(), p)
                    )
    return found


def warehouse_text(ws: Workspace) -> set[str]:
    """Every text and JSON value in every table the pipeline loaded."""
    columns = ws.query(
        "select table_name, column_name from information_schema.columns "
        "where table_schema = 'wirelane_raw' and data_type in ('VARCHAR', 'JSON')"
    )
    values: set[str] = set()
    for table, column in columns:
        values.update(str(v) for (v,) in ws.query(f'select distinct "{column}" from wirelane_raw."{table}"') if v)
    return values


def test_personal_data_never_reaches_the_warehouse_in_clear(workspace: Workspace) -> None:
    load.run("duckdb")
    personal = personal_values(workspace)
    assert all(personal.values()), "the simulator serves personal data of every kind"
    stored = warehouse_text(workspace)
    everything = set().union(*personal.values())
    leaked = {v for v in everything if v in stored or any(v in s for s in stored if len(v) > 5)}
    assert not leaked, sorted(leaked)[:5]
    # the pseudonym is the keyed hash, e-mail domains kept: the same person joins across tables
    member = workspace.api.get_all(f"/organizations/id/{workspace.api.organizations[0]}/members")[0]
    token = Pseudonymizer(SIMULATOR_KEY).token(member["email"])
    assert token.endswith("@" + member["email"].split("@")[1].lower())
    assert workspace.query(f"select count(*) from wirelane_raw.members where email = '{token}'") == [(1,)]


def test_personal_data_is_kept_only_when_asked(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCES__WIRELANE__PSEUDONYMIZE", "false")
    load.run("duckdb")
    stored = warehouse_text(workspace)
    personal = personal_values(workspace)
    assert personal["members"] <= stored and personal["member_payment_methods"] <= stored


def test_a_real_api_needs_a_strong_key() -> None:
    with pytest.raises(WirelaneConfigError, match=r"pseudonymization_key in \.dlt/secrets\.toml"):
        build_pseudonymizer(True, None, simulator=False)
    with pytest.raises(WirelaneConfigError, match="too short"):
        build_pseudonymizer(True, "short", simulator=False)
    assert not build_pseudonymizer(False, None, simulator=False).enabled
    one, other = Pseudonymizer("k" * 32), Pseudonymizer("x" * 32)
    assert one.token("Ada@Example.org") == one.token("ada@example.org") != other.token("ada@example.org")
    assert one.token("04 1234") != "04 1234" and len(one.token("04 1234")) == 32


def test_member_fingerprints_in_state_are_keyed(workspace: Workspace) -> None:
    """Members are compared by their list row as the API sent it, personal data in clear: the
    digests kept in state are keyed, so no one without the key can confirm a guess of a row."""
    load.run("duckdb")
    org = workspace.api.organizations[0]
    listed = workspace.api.get_all(f"/organizations/id/{org}/members")
    source_state = load.make_pipeline("duckdb").state["sources"]["wirelane"]
    resources = source_state["resources"]
    keyed = Pseudonymizer(SIMULATOR_KEY)
    keys_of = {
        "members": lambda m: str(m["id"]),
        "member_subscriptions": lambda m: (m.get("account") or {}).get("account_id"),
    }
    for table, key_of in keys_of.items():
        prints = changes.stored_fingerprints(resources[table]["fingerprints"][org], source_state[changes.SETS_KEY])
        by_key = {changes.key_digest(key): m for m in listed if (key := key_of(m))}
        assert prints and prints.keys() == by_key.keys(), table
        for record_key, digest in prints.items():
            row = by_key[record_key]
            assert digest == int(keyed.fingerprint(row), 16) != int(changes.fingerprint(row), 16), (table, record_key)


def test_fingerprints_are_keyed_only_when_pseudonymizing() -> None:
    row = {"id": 7, "email": "ada@example.org", "account": {"name": "Ada Lovelace"}}
    one, other, clear = Pseudonymizer("k" * 32), Pseudonymizer("x" * 32), Pseudonymizer(None)
    assert one.fingerprint(row) == one.fingerprint(dict(reversed(row.items()))), "key order does not matter"
    assert len({one.fingerprint(row), other.fingerprint(row), clear.fingerprint(row)}) == 3
    assert clear.fingerprint(row) == changes.fingerprint(row)
    assert one.fingerprint(row) != one.fingerprint({**row, "email": "bob@example.org"})


# a few values per key, so that a page repeats them as a page repeats its drivers' cards
PERSONAL_KINDS = {
    "text": st.sampled_from(["04 1234", "DE-ENB-C62164321-0", "Ada Lovelace", "", "ß✓"]),
    "email": st.sampled_from(["Ada@Example.org", "bob@example.org", "@nowhere", "x@"]),
    "number": st.integers(min_value=0, max_value=99),
}


@st.composite
def session_pages(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Session documents whose personal keys each hold one kind of value on the page, or null."""
    kinds = {path: draw(st.sampled_from(sorted(PERSONAL_KINDS))) for path in PERSONAL_FIELDS["sessions"]}
    page = []
    for number in range(draw(st.integers(min_value=1, max_value=8))):
        document: dict[str, Any] = {"session_id": f"s{number}", "customer": {"language": "de"}}
        for path, kind in kinds.items():
            value = draw(st.one_of(st.none(), PERSONAL_KINDS[kind]))
            (document if len(path) == 1 else document["customer"])[path[-1]] = value
        page.append(document)
    parsed: list[dict[str, Any]] = orjson.loads(orjson.dumps(page))
    return parsed


@settings(max_examples=200, deadline=None)
@given(session_pages())
def test_a_page_pseudonymized_as_a_table_equals_its_documents_pseudonymized(page: list[dict[str, Any]]) -> None:
    """Session pages are pseudonymized column by column once they are Arrow tables: the same
    table as pseudonymizing each document first, or both left to the dict path."""
    privacy = Pseudonymizer("k" * 32)
    untouched = copy.deepcopy(page)
    try:
        expected = page_table([privacy.apply("sessions", d) for d in copy.deepcopy(page)], {"organization_id": "O"})
    except NotTabular:
        expected = None
    try:
        table = page_table(page, {"organization_id": "O"})
    except NotTabular:
        assert expected is None
        return
    assert expected is not None
    assert replace_strings(table, PERSONAL_FIELDS["sessions"], privacy.tokens).equals(expected)
    assert page == untouched, "the documents themselves stay as the API sent them"
    assert Pseudonymizer(None).tokens(["a", None, ""]) == ["a", None, ""]
