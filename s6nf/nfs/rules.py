"""The IDS's rules: a one-line subset of Snort's rule language, loaded from a file.

    # comment
    alert tcp any any -> 10.9.0.0/16 [80,8080] (msg:"admin page"; content:"/admin"; sid:1001;)
    alert tcp any 80 <> any any (msg:"leak"; content:"|de ad be ef|"; nocase; sid:1002;)
    alert udp any any -> any 53 (msg:"odd query"; pcre:"/^.{0,2}\\x07example/s"; sid:1003;)

Header: ``alert``, a protocol (``tcp``, ``udp`` or ``ip`` for both), source address and port,
``->`` (that way) or ``<>`` (either way), destination address and port. Addresses: ``any``,
``a.b.c.d`` or ``a.b.c.d/n``. Ports: ``any``, ``n``, ``lo:hi`` or ``[n,lo:hi,...]``.
Options, each ending in ``;``: ``msg`` (required), ``sid`` (required, unique), ``content``
(bytes that must occur; ``|..|`` holds hex bytes; a following ``nocase`` makes it case-blind),
``pcre`` (``/regex/flags``, flags from ``i``, ``s``, ``m``, ``x``), ``rev`` and
``classtype`` (kept, not used). A rule needs at least one ``content`` or ``pcre``; all of them
must match one packet's payload (no stream reassembly). Anything else is refused with the
file, line and what was wrong.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

PROTOS = {"tcp": (6,), "udp": (17,), "ip": (6, 17)}
_HEADER = re.compile(r"^alert\s+(\S+)\s+(\S+)\s+(\S+)\s+(->|<>)\s+(\S+)\s+(\S+)\s+\((.*)\)\s*$")
_PCRE_FLAGS = {"i": re.IGNORECASE, "s": re.DOTALL, "m": re.MULTILINE, "x": re.VERBOSE}
Ports = tuple[tuple[int, int], ...] | None
"""Inclusive port ranges; None is any."""


class RuleError(ValueError):
    """A rule that cannot be loaded; the text names the file, line and offending value."""


@dataclass(frozen=True)
class Content:
    data: bytes
    nocase: bool = False

    def found_in(self, payload: bytes) -> bool:
        if self.nocase:
            return self.data.lower() in payload.lower()
        return self.data in payload


@dataclass(frozen=True)
class Rule:
    sid: int
    msg: str
    protos: tuple[int, ...]
    src: ipaddress.IPv4Network | None
    sports: Ports
    dst: ipaddress.IPv4Network | None
    dports: Ports
    both_ways: bool
    contents: tuple[Content, ...]
    patterns: tuple[re.Pattern[bytes], ...]

    def _ends(self, src: int, sport: int, dst: int, dport: int) -> bool:
        return (_addr_in(src, self.src) and _port_in(sport, self.sports)
                and _addr_in(dst, self.dst) and _port_in(dport, self.dports))

    def applies(self, proto: int, src: int, sport: int, dst: int, dport: int) -> bool:
        if proto not in self.protos:
            return False
        return self._ends(src, sport, dst, dport) or (
            self.both_ways and self._ends(dst, dport, src, sport))

    def matches(self, payload: bytes) -> bool:
        return (all(c.found_in(payload) for c in self.contents)
                and all(p.search(payload) for p in self.patterns))


def _addr_in(addr: int, net: ipaddress.IPv4Network | None) -> bool:
    return net is None or ipaddress.IPv4Address(addr) in net


def _port_in(port: int, ports: Ports) -> bool:
    return ports is None or any(lo <= port <= hi for lo, hi in ports)


def _addr(text: str) -> ipaddress.IPv4Network | None:
    if text == "any":
        return None
    try:
        return ipaddress.IPv4Network(text, strict=False)
    except ValueError:
        raise RuleError(f"address {text!r} is not any, a.b.c.d or a.b.c.d/n") from None


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise RuleError(f"port {text!r} is not a number from 0 to 65535")
    return int(text)


def _ports(text: str) -> Ports:
    if text == "any":
        return None
    items = text[1:-1].split(",") if text.startswith("[") and text.endswith("]") else [text]
    out = []
    for item in items:
        lo, _, hi = item.strip().partition(":")
        first, last = _port(lo), _port(hi) if hi else _port(lo)
        if first > last:
            raise RuleError(f"port range {item!r} runs backwards")
        out.append((first, last))
    return tuple(out)


def _content(text: str) -> bytes:
    """Snort content text: plain bytes with |hex hex| runs."""
    out = bytearray()
    parts = text.split("|")
    if len(parts) % 2 == 0:
        raise RuleError(f"content {text!r} has an unclosed |hex| run")
    for i, part in enumerate(parts):
        if i % 2:
            try:
                out += bytes.fromhex(part)
            except ValueError:
                raise RuleError(f"content {text!r}: {part!r} is not hex bytes") from None
        else:
            out += part.encode()
    if not out:
        raise RuleError("empty content")
    return bytes(out)


def _pcre(text: str) -> re.Pattern[bytes]:
    body, _, flags = text[1:].rpartition("/")
    if not text.startswith("/") or not _:
        raise RuleError(f"pcre {text!r} is not /regex/flags")
    mode = 0
    for flag in flags:
        if flag not in _PCRE_FLAGS:
            raise RuleError(f"pcre {text!r}: flag {flag!r} is not one of i, s, m, x")
        mode |= _PCRE_FLAGS[flag]
    try:
        return re.compile(body.encode(), mode)
    except re.error as exc:
        raise RuleError(f"pcre {text!r}: {exc}") from None


_OPTION = re.compile(r'\s*([a-z_]+)\s*(?::\s*("(?:[^"\\]|\\.)*"|[^;"]*))?\s*;')


def _options(text: str) -> list[tuple[str, str]]:
    """``name:value;`` and ``name;`` items; in quoted values \\" \\; and \\\\ stand for
    themselves, every other backslash is kept (a pcre's \\x07 reaches the regex)."""
    out, at = [], 0
    while text[at:].strip():
        m = _OPTION.match(text, at)
        if not m:
            raise RuleError(f"cannot read options near {text[at:].strip()[:40]!r} (each is "
                            "name:value; or name;)")
        raw = m.group(2)
        if raw is None:
            value = ""
        elif raw.startswith('"'):
            value = re.sub(r'\\([";\\])', r"\1", raw[1:-1])
        else:
            value = raw.strip()
        out.append((m.group(1), value))
        at = m.end()
    return out


def parse_rule(line: str) -> Rule:
    m = _HEADER.match(line.strip())
    if not m:
        raise RuleError("not a rule: expected 'alert PROTO SRC SPORT -> DST DPORT (OPTIONS)'")
    proto, src, sport, way, dst, dport, body = m.groups()
    if proto not in PROTOS:
        raise RuleError(f"protocol {proto!r} is not tcp, udp or ip")
    msg, sid = None, None
    contents: list[Content] = []
    patterns: list[re.Pattern[bytes]] = []
    for name, value in _options(body):
        if name == "msg":
            msg = value
        elif name == "sid":
            if not value.isdigit() or int(value) == 0:
                raise RuleError(f"sid {value!r} is not a positive number")
            sid = int(value)
        elif name == "content":
            contents.append(Content(_content(value)))
        elif name == "nocase":
            if not contents:
                raise RuleError("nocase without a content before it")
            contents[-1] = Content(contents[-1].data, nocase=True)
        elif name == "pcre":
            patterns.append(_pcre(value))
        elif name not in ("rev", "classtype"):
            raise RuleError(f"option {name!r} is not supported (msg, sid, content, nocase, "
                            "pcre, rev, classtype)")
    if msg is None or sid is None:
        raise RuleError("a rule needs msg and sid")
    if not contents and not patterns:
        raise RuleError(f"rule {sid} has neither content nor pcre")
    return Rule(sid, msg, PROTOS[proto], _addr(src), _ports(sport), _addr(dst), _ports(dport),
                way == "<>", tuple(contents), tuple(patterns))


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]

    @classmethod
    def parse(cls, lines: Iterable[str], origin: str = "<rules>") -> RuleSet:
        rules: list[Rule] = []
        sids: dict[int, int] = {}
        for number, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                rule = parse_rule(line)
            except RuleError as exc:
                raise RuleError(f"{origin}:{number}: {exc}") from None
            if rule.sid in sids:
                raise RuleError(f"{origin}:{number}: sid {rule.sid} already used on line "
                                f"{sids[rule.sid]}")
            sids[rule.sid] = number
            rules.append(rule)
        return cls(tuple(rules))

    @classmethod
    def load(cls, path: Path) -> RuleSet:
        try:
            text = path.read_text()
        except OSError as exc:
            raise RuleError(f"cannot read rules file {path}: {exc.strerror}") from None
        return cls.parse(text.splitlines(), str(path))

    def inspects(self, proto: int, port_a: int, port_b: int) -> bool:
        """Whether a flow between these ports may match some rule, in either direction (then
        its payload goes to the agent); a rule with any port on both sides takes every flow."""
        return any(proto in r.protos and (
            (_port_in(port_a, r.sports) and _port_in(port_b, r.dports))
            or (_port_in(port_b, r.sports) and _port_in(port_a, r.dports))) for r in self.rules)

    def match(self, proto: int, src: int, sport: int, dst: int, dport: int,
              payload: bytes) -> list[Rule]:
        return [r for r in self.rules
                if r.applies(proto, src, sport, dst, dport) and r.matches(payload)]
