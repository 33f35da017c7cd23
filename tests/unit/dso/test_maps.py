import pytest

from s6nf.agent.dso.errors import UnknownMap
from s6nf.agent.dso.maps import Consistency, MwMap, Schema, SwMap, stale, untether


class Counter:
    def __init__(self) -> None:
        self.n = 0

    @untether
    def add(self, k: int) -> None:
        self.n += k

    @stale(0.5)
    def read(self) -> int:
        return self.n

    def swap(self, v: int) -> int:
        old, self.n = self.n, v
        return old


class Flow:
    def __init__(self) -> None:
        self.packets = 0


def test_methods_are_indexed_by_name_with_their_consistency():
    m = MwMap(1, "c", Counter)
    assert [(s.name, s.consistency, s.bound_s) for s in m.methods] == [
        ("add", Consistency.UNTETHER, 0.0),
        ("read", Consistency.STALE, 0.5),
        ("swap", Consistency.STRICT, 0.0),
    ]
    assert m.spec_of(Counter.swap).index == 2
    with pytest.raises(TypeError, match="not a public method"):
        m.spec_of(Flow.__init__)


def test_default_storage_round_trips_plain_objects():
    st = SwMap(2, "flows", Flow).make_storage()
    obj = st.create(b"k")
    obj.packets = 5
    data = st.take(b"k")
    assert data is not None and st.get(b"k") is None
    st.put(b"k", data)
    got = st.get(b"k")
    assert got is not None and got.packets == 5
    assert st.export([b"k", b"absent"]) == [(b"k", data)] and len(st) == 0


def test_schema_refuses_duplicate_and_unknown_ids():
    with pytest.raises(ValueError, match="map id 1 declared twice"):
        Schema([SwMap(1, "a", Flow), MwMap(1, "b", Counter)])
    with pytest.raises(UnknownMap, match="unknown map id 9"):
        Schema([SwMap(1, "a", Flow)]).get(9)


def test_negative_stale_bound_is_refused():
    with pytest.raises(ValueError, match="-1"):
        stale(-1)
