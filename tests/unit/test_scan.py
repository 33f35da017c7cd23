"""The IDS's port-scan window and the asset monitor's OS hints, as plain objects."""

from s6nf.nfs.assets import Asset, os_hint
from s6nf.nfs.scan import MAX_TRACKED, ScanWindow


def test_distinct_pairs_in_the_window_and_one_alert_per_window():
    w = ScanWindow()
    for port in range(5):
        w.add(1, port, 10.0, 5.0)
        w.add(1, port, 10.5, 5.0)
    assert w.distinct() == 5
    assert w.flag(11.0, 5.0, 6) == 0
    assert w.flag(11.0, 5.0, 5) == 5
    assert w.flag(12.0, 5.0, 5) == 0
    w.add(2, 80, 16.0, 5.0)
    assert w.distinct() == 1
    for port in range(5):
        w.add(3, port, 16.5, 5.0)
    assert w.flag(16.5, 5.0, 5) == 6


def test_a_flood_from_one_source_is_bounded():
    w = ScanWindow()
    for i in range(MAX_TRACKED + 100):
        w.add(i, 1, float(i), 1e9)
    assert w.distinct() == MAX_TRACKED
    assert (0 << 16 | 1) not in w.seen


def test_os_hints_by_initial_ttl_and_window():
    assert os_hint(64, 29200) == os_hint(50, 5840) == "linux/unix"
    assert os_hint(60, 65535) == "bsd/macos"
    assert os_hint(128, 64240) == os_hint(100, 8192) == "windows"
    assert os_hint(255, 4128) == os_hint(200, 0) == "network device/solaris"
    assert os_hint(0, 0) == ""


def test_asset_updates_are_order_free():
    calls = [("seen", (30,)), ("service", ("tcp/80", 10)), ("fingerprint", (57, 29200, 20)),
             ("fingerprint", (60, 100, 40)), ("service", ("tcp/80", 5)), ("seen", (25,))]
    a, b = Asset(), Asset()
    for name, args in calls:
        getattr(a, name)(*args)
    for name, args in reversed(calls):
        getattr(b, name)(*args)
    assert a.describe() == b.describe()
    assert a.describe()["services"] == {"tcp/80": 2} and a.describe()["ttl"] == 60
    assert (a.first_seen_ns, a.last_seen_ns) == (5, 40)
