"""The fingerprints a detail table remembers between runs (sources/wirelane/changes.py): they
answer as the dict of key and digest strings they replace would, survive their saved string,
read what earlier versions saved, and are much smaller."""

from __future__ import annotations

from dlt.common.json import json
from hypothesis import given
from hypothesis import strategies as st

from sources.wirelane import changes
from sources.wirelane.changes import Fingerprints, key_digest, stored_fingerprints
from tests.pipeline.live_memory import held_by

record_keys = st.text(alphabet=st.characters(codec="utf-8"), max_size=10)
digests = st.integers(min_value=0, max_value=2**64 - 1)


@given(
    st.dictionaries(record_keys, digests, max_size=30),
    st.lists(st.tuples(record_keys, digests), max_size=30),
    st.one_of(st.none(), st.frozensets(record_keys, max_size=30)),
)
def test_fingerprints_answer_as_a_dict_of_the_last_run_would(
    last_run: dict[str, int], this_run: list[tuple[str, int]], listed: frozenset[str] | None
) -> None:
    saved = Fingerprints((key_digest(key), digest) for key, digest in last_run.items()).compact()
    prints = Fingerprints.of(saved)
    for key, digest in this_run:  # compared with the last run, whatever this run saw before
        assert prints.remembered(key_digest(key)) == last_run.get(key)
        prints.remember(key_digest(key), digest)
    expected = dict(last_run)
    if listed is not None:  # a listing that did not show a remembered record forgets it
        prints.keep_only({key_digest(key) for key in listed})
        expected = {key: digest for key, digest in expected.items() if key in listed}
    expected.update(this_run)
    again = stored_fingerprints(prints.compact())
    assert again == {key_digest(key): digest for key, digest in expected.items()}
    assert Fingerprints.of(prints) is prints


def test_what_earlier_versions_saved_is_read() -> None:
    rows = {"4508": "62a44bf0e5605759", "DEMO-1700003683": "27f0e4f5b4dbe7ea", "a b": "0123456789abcdef"}
    expected = {key_digest(key): int(digest, 16) for key, digest in rows.items()}
    lines = "\n".join(f"{digest} {key}" for key, digest in rows.items())  # the version before
    assert stored_fingerprints(lines) == expected == stored_fingerprints(rows)  # and before it
    assert stored_fingerprints("") == {} == stored_fingerprints(Fingerprints().compact())
    assert Fingerprints.of(lines).remembered(key_digest("a b")) == 0x0123456789ABCDEF


def test_the_saved_string_holds_no_key_and_sixteen_bytes_a_record() -> None:
    keys = [f"DEMOT-{10**9 + n:010d}" for n in range(1000)]
    saved = Fingerprints((key_digest(key), n) for n, key in enumerate(keys)).compact()
    assert saved.startswith(changes.COMPACT) and not any(key in saved for key in keys)
    assert len(saved) == len(changes.COMPACT) + 4 * -(-16 * 1000 // 3)  # base64 of 16,000 bytes


def test_a_run_holds_its_fingerprints_in_a_quarter_of_the_memory_or_less() -> None:
    """30,000 members of one organization (3,000,000 sessions), remembered and seen again."""
    rows = {f"DEMOT-{10**9 + n:010d}": f"{n * 7919:016x}" for n in range(30_000)}
    saved = Fingerprints((key_digest(key), int(digest, 16)) for key, digest in rows.items()).compact()

    def as_before() -> dict[str, str]:  # the dict the run used to hold, updated as it went
        seen = {f"DEMOT-{10**9 + n:010d}": f"{n * 7919:016x}" for n in range(30_000)}
        return {**seen, **{key: digest for key, digest in seen.items()}}

    def as_now() -> Fingerprints:
        prints = Fingerprints.of(saved)
        for n in range(30_000):
            prints.remember(key_digest(f"DEMOT-{10**9 + n:010d}"), n * 7919)
        return prints

    assert held_by(as_now) * 4 < held_by(as_before)  # 1.1 against 4.9 MB


# -- the source's one copy of each set (FingerprintSets) --------------------------------------
table_sets = st.dictionaries(record_keys, digests, max_size=8)


@given(st.lists(st.one_of(st.none(), table_sets), min_size=1, max_size=6), st.sets(st.integers(0, 5)))
def test_tables_refer_to_one_copy_of_each_set_and_read_it_back(
    sets: list[dict[str, int] | None], idle: set[int]
) -> None:
    """Tables that remember the same rows save one set; a table a run did not touch keeps its
    reference and its set; a set no table refers to is not saved; each reads back its own."""

    def state_of(tables: dict[str, object], saved_sets: object) -> dict[str, object]:
        return {
            "resources": {name: {"fingerprints": {"ORG": value}} for name, value in tables.items()},
            changes.SETS_KEY: saved_sets,
        }

    # a first run saves every table's set
    first = state_of(
        {f"t{n}": Fingerprints((key_digest(k), d) for k, d in (rows or {}).items()) for n, rows in enumerate(sets)}, {}
    )
    changes.FingerprintSets.installed(first)
    saved = json.loads(json.dumps(first))
    distinct = {tuple(sorted((rows or {}).items())) for rows in sets}
    assert len(saved[changes.SETS_KEY]) == len(distinct)

    # the next run touches only some tables: each of those forgets its set and remembers another
    resources = saved["resources"]
    shared = changes.FingerprintSets.installed(saved)
    for n in range(len(sets)):
        if n not in idle:
            resources[f"t{n}"]["fingerprints"]["ORG"] = Fingerprints([(key_digest(f"new-{n}"), n)])
    again = json.loads(json.dumps(saved))
    for n, rows in enumerate(sets):
        expected = {key_digest(k): d for k, d in (rows or {}).items()} if n in idle else {key_digest(f"new-{n}"): n}
        assert (
            stored_fingerprints(again["resources"][f"t{n}"]["fingerprints"]["ORG"], again[changes.SETS_KEY]) == expected
        )
    referenced = {value["fingerprints"]["ORG"][len(changes.REFERENCE) :] for value in again["resources"].values()}
    assert set(again[changes.SETS_KEY]) == referenced  # nothing else is kept
    assert shared.resolve(changes.REFERENCE + "0" * 32) is None  # a set that is gone reads as none
