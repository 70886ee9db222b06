"""The compact key sets a finished extraction hands the load step (sources/wirelane/keysets.py):
they behave as the sets they replace, survive the handoff's pickle, and are much smaller."""

from __future__ import annotations

import pickle

from hypothesis import example, given
from hypothesis import strategies as st

from sources.wirelane import changes
from sources.wirelane.keysets import KeySet
from tests.pipeline.live_memory import held_by

keys = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)


@given(st.frozensets(keys, max_size=40), st.lists(keys, max_size=10))
@example(frozenset({"", "a"}), ["", "\n", "a\n"])
@example(frozenset({"a\nb", "c"}), ["a", "b", "a\nb", "\n"])
def test_a_key_set_behaves_as_the_set_it_holds(held: frozenset[str], probes: list[str]) -> None:
    compact = KeySet(held)
    restored = pickle.loads(pickle.dumps(compact, protocol=pickle.HIGHEST_PROTOCOL))  # noqa: S301
    for one in (compact, restored):
        assert len(one) == len(held)
        assert list(one) == sorted(held)
        assert one == held
        for probe in [*probes, *held]:
            assert (probe in one) == (probe in held)


def test_a_settled_run_holds_the_same_keys_in_a_fifth_of_the_memory_or_less() -> None:
    members = {f"{n}" for n in range(100_000, 160_000)}  # 60,000 members: 3,000,000 sessions
    run = changes.DetailRun(swept={"ORG"}, fetched={"ORG": set(members)}, listed={"ORG": set(members)})
    settled = run.settled()
    assert settled.swept == {"ORG"}
    assert set(settled.fetched["ORG"]) == members == set(settled.listed["ORG"])

    def live_after_unpickling(value: object) -> int:
        blob = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        return held_by(lambda: pickle.loads(blob))  # noqa: S301

    assert live_after_unpickling(settled) * 5 < live_after_unpickling(run)  # 0.8 against 7.5 MB
