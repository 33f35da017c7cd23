"""Finding the eBPF C sources and flattening them into one translation unit for bcc.

bcc rewrites map accesses (``table.lookup(&k)``) only in the text of the main file, never in
included headers. The loader therefore inlines our own quoted includes (``#include "…"``),
each once, behind ``#line`` markers so compiler errors still name the real file and line.
System includes (``<…>``) are left to the compiler.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_QUOTED_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"\s*$')


def ebpf_dir() -> Path:
    """The ``ebpf/`` directory: ``$S6NF_EBPF_DIR`` or the one beside the source tree."""
    configured = os.environ.get("S6NF_EBPF_DIR")
    path = Path(configured) if configured else Path(__file__).resolve().parents[2] / "ebpf"
    if not (path / "include" / "verdicts.h").is_file():
        raise FileNotFoundError(
            f"eBPF sources not found at {path}: install s6nf editable from its source tree "
            "(make setup) or set S6NF_EBPF_DIR to the ebpf/ directory"
        )
    return path


def source_path(program: str) -> Path:
    path = ebpf_dir() / f"{program}.c"
    if not path.is_file():
        known = sorted(p.stem for p in ebpf_dir().glob("*.c"))
        raise FileNotFoundError(f"no eBPF program {program!r} (known: {', '.join(known)})")
    return path


def flatten(path: Path, seen: set[Path] | None = None) -> str:
    """``path`` with every quoted include inlined once, recursively."""
    seen = set() if seen is None else seen
    path = path.resolve()
    if path in seen:
        return ""
    seen.add(path)
    out: list[str] = [f'#line 1 "{path}"']
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        match = _QUOTED_INCLUDE.match(line)
        if not match:
            out.append(line)
            continue
        included = (path.parent / match.group(1)).resolve()
        if not included.is_file():
            raise FileNotFoundError(f"{path}:{lineno}: included file {match.group(1)} not found")
        out.append(flatten(included, seen))
        out.append(f'#line {lineno + 1} "{path}"')
    return "\n".join(out) + "\n"
