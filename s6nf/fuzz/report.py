"""A fuzz campaign's result as a table a person reads at a glance."""

from __future__ import annotations

from s6nf.fuzz.campaign import CampaignResult

_FINISHED = ("reinjected", "dropped_by_nf", "overflowed", "failed")


def format_result(r: CampaignResult) -> str:
    rate = r.frames / r.seconds if r.seconds else 0.0
    lines = [f"{r.program}: {r.frames:,} hostile frames (seed {r.seed}) in {r.seconds:.1f} s "
             f"({rate:,.0f}/s) — {'ok' if r.ok else 'FAILED'}",
             f"  {'verdict reason':<24}{'frames':>12}"]
    for reason, n in r.reasons.items():
        lines.append(f"  {reason:<24}{n:>12,}")
        if reason == "punted" and r.slow_path:
            for outcome in _FINISHED:
                lines.append(f"    {'→ ' + outcome.replace('_', ' '):<22}"
                             f"{r.slow_path.get(outcome, 0):>12,}")
    lines.append(f"  {'total':<24}{sum(r.reasons.values()):>12,}")
    if r.notes:
        lines.append("  notes (not verdicts): " + ", ".join(
            f"{k.removeprefix('note_')} {v:,}" for k, v in r.notes.items()))
    lines.append("  made by: " + ", ".join(f"{k} {v:,}" for k, v in r.kinds.items()))
    if r.nf:
        lines.append("  the NF's agent: " + ", ".join(f"{k.replace('_', ' ')} {v:,}"
                                                      for k, v in r.nf.items() if v))
    e = r.established
    lines.append(f"  established flow: {e.delivered:,} of {e.sent:,} packets forwarded and "
                 f"rewritten as configured; kernel taint {r.taint[0]} → {r.taint[1]}")
    lines += [f"  PROBLEM: {p}" for p in r.problems]
    return "\n".join(lines)
