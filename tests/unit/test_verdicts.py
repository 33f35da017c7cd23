import re
from pathlib import Path

from s6nf.agent.verdicts import NOTE_FIRST, REASON_MAX, Reason

HEADER = Path(__file__).parents[2] / "ebpf" / "include" / "verdicts.h"


def c_enum() -> dict[str, int]:
    pattern = re.compile(r"^\s*(\w+)\s*=\s*(\d+),", re.M)
    return {m[1]: int(m[2]) for m in pattern.finditer(HEADER.read_text())}


def test_python_enum_mirrors_the_c_enum_exactly():
    c = c_enum()
    assert c.pop("NOTE_FIRST") == NOTE_FIRST
    assert c.pop("REASON_MAX") == REASON_MAX
    py = {f"{'REASON_' if not r.name.startswith('NOTE_') else ''}{r.name}": int(r) for r in Reason}
    assert py == c


def test_every_reason_fits_the_stats_array():
    assert max(Reason) < REASON_MAX
    assert all(r.is_note == (r >= NOTE_FIRST) for r in Reason)
