"""Read the pipeline's shape from P4 source in our own style, and from a P4Info, for comparison.

The source reader is a set of regexes that understand the subset of P4_16 that p4/ uses
(STYLE.md); it is not a P4 parser. Both readers yield the same ``PipelineShape`` so a test
can compare them field by field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from p4.config.v1 import p4info_pb2

P4_DIR = Path(__file__).resolve().parents[1] / "p4"
BUILTIN_ACTIONS: dict[str, list[tuple[str, int]]] = {"NoAction": []}
_COUNTER_UNITS = {"packets": "PACKETS", "bytes": "BYTES", "packets_and_bytes": "BOTH"}


@dataclass
class PipelineShape:
    tables: dict[str, dict[str, object]] = field(default_factory=dict)
    actions: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    counters: dict[str, tuple[str, int]] = field(default_factory=dict)


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def _block(text: str, start: int) -> str:
    """The text between the brace at or after ``start`` and its matching brace."""
    open_at = text.index("{", start)
    depth = 0
    for i in range(open_at, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[open_at + 1:i]
    raise ValueError(f"unbalanced braces after offset {start}")


def _width(type_name: str, typedefs: dict[str, int]) -> int:
    m = re.fullmatch(r"bit<(\d+)>", type_name)
    return int(m.group(1)) if m else typedefs[type_name]


def _members(body: str) -> dict[str, str]:
    return dict((name, typ) for typ, name in re.findall(r"([\w<>\[\]]+)\s+(\w+)\s*;", body))


def read_source(p4_dir: Path = P4_DIR) -> PipelineShape:
    files = sorted(p4_dir.rglob("*.p4"))
    text = "\n".join(_strip_comments(f.read_text()) for f in files)
    typedefs = {n: int(w) for w, n in re.findall(r"typedef\s+bit<(\d+)>\s+(\w+)\s*;", text)}
    defines = {n: int(v, 0) for n, v in re.findall(r"#define[ \t]+(\w+)[ \t]+(\d\w*)", text)}
    types = {
        m.group(2): _members(_block(text, m.end()))
        for m in re.finditer(r"\b(struct|header)\s+(\w+)\s*(?={)", text)
    }
    top = _strip_comments((p4_dir / "steer.p4").read_text())
    instances: dict[str, str] = {}
    for m in re.finditer(r"\bcontrol\s+(\w+)\s*\(", top):
        body = _block(top, m.end())
        for ctl, inst in re.findall(r"\b([A-Z]\w*)\(\)\s+(\w+)\s*;", body):
            instances[ctl] = f"{m.group(1)}.{inst}"
    shape = PipelineShape()
    for m in re.finditer(r"\bcontrol\s+(\w+)\s*\(([^)]*)\)", text):
        prefix = instances.get(m.group(1))
        if prefix is None:
            continue
        params = {n: t for t, n in re.findall(r"(\w+)\s+(\w+)\s*(?:,|$)", m.group(2))}
        body = _block(text, m.end())
        _read_control(body, prefix, params, types, typedefs, defines, shape)
    return shape


def _read_control(body: str, prefix: str, params: dict[str, str], types: dict[str, dict[str, str]],
                  typedefs: dict[str, int], defines: dict[str, int], shape: PipelineShape) -> None:
    def qualify(action: str) -> str:
        return action if action in BUILTIN_ACTIONS else f"{prefix}.{action}"

    def field_width(path: str) -> int:
        root, *rest = path.split(".")
        typ = params[root]
        for part in rest:
            typ = types[typ][part]
        return _width(typ, typedefs)

    for m in re.finditer(r"\baction\s+(\w+)\s*\(([^)]*)\)", body):
        args = re.findall(r"([\w<>]+)\s+(\w+)", m.group(2))
        shape.actions[qualify(m.group(1))] = [(n, _width(t, typedefs)) for t, n in args]
    for m in re.finditer(r"\bcounter\((\w+),\s*CounterType\.(\w+)\)\s+(\w+)\s*;", body):
        size = defines.get(m.group(1)) or int(m.group(1), 0)
        shape.counters[qualify(m.group(3))] = (_COUNTER_UNITS[m.group(2)], size)
    for m in re.finditer(r"\btable\s+(\w+)\s*(?={)", body):
        tbody = _block(body, m.end())
        key_body = _block(tbody, tbody.index("key"))
        key_re = r"([\w.]+)\s*:\s*(\w+)\s+@name\(\"(\w+)\"\)"
        keys = [
            (name, field_width(path), kind.upper())
            for path, kind, name in re.findall(key_re, key_body)
        ]
        refs = []
        actions_body = _block(tbody, tbody.index("actions"))
        for annot, name in re.findall(r"(@defaultonly\s+)?(\w+)\s*;", actions_body):
            refs.append((qualify(name), "DEFAULT_ONLY" if annot else "TABLE_AND_DEFAULT"))
            if name in BUILTIN_ACTIONS:
                shape.actions[name] = BUILTIN_ACTIONS[name]
        default = re.search(r"const\s+default_action\s*=\s*(\w+)\s*\(", tbody)
        size_m = re.search(r"\bsize\s*=\s*(\w+)\s*;", tbody)
        assert size_m is not None, f"table {m.group(1)} has no size"
        shape.tables[f"{prefix}.{m.group(1)}"] = {
            "alias": m.group(1),
            "keys": keys,
            "actions": sorted(refs),
            "const_default": qualify(default.group(1)) if default else None,
            "size": defines[size_m.group(1)],
        }


def read_p4info(info: p4info_pb2.P4Info) -> PipelineShape:
    action_names = {a.preamble.id: a.preamble.name for a in info.actions}
    match_types = p4info_pb2.MatchField.MatchType.Name
    scopes = p4info_pb2.ActionRef.Scope.Name
    shape = PipelineShape()
    for a in info.actions:
        shape.actions[a.preamble.name] = [(p.name, p.bitwidth) for p in a.params]
    for t in info.tables:
        shape.tables[t.preamble.name] = {
            "alias": t.preamble.alias,
            "keys": [(f.name, f.bitwidth, match_types(f.match_type)) for f in t.match_fields],
            "actions": sorted((action_names[r.id], scopes(r.scope)) for r in t.action_refs),
            "const_default": action_names.get(t.const_default_action_id),
            "size": t.size,
        }
    for c in info.counters:
        shape.counters[c.preamble.name] = (p4info_pb2.CounterSpec.Unit.Name(c.spec.unit), c.size)
    return shape
