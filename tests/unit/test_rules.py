"""The IDS rule language: what loads, what it matches, and how bad rules are refused."""

import ipaddress

import pytest

from s6nf.nfs.rules import RuleError, RuleSet


def ip(text):
    return int(ipaddress.IPv4Address(text))


GOOD = r"""
# a comment, then a blank line

alert tcp any any -> 10.9.0.0/16 [80,8000:8099] (msg:"admin"; content:"/admin"; sid:1;)
alert tcp any 80 <> any any (msg:"key \"leak\""; content:"|2d 2d|begin"; nocase; sid:2;)
alert udp any any -> any 53 (msg:"q"; pcre:"/^\x07exam+ple/s"; content:"ple"; sid:3;)
alert ip 10.1.0.1 any -> any any (msg:"host"; content:"z"; sid:4; rev:2; classtype:misc;)
"""


def test_rules_load_and_match_by_header_and_payload():
    rules = RuleSet.parse(GOOD.splitlines())
    assert [r.sid for r in rules.rules] == [1, 2, 3, 4]
    assert rules.rules[1].msg == 'key "leak"'

    def sids(proto, src, sport, dst, dport, payload):
        return [r.sid for r in rules.match(proto, ip(src), sport, ip(dst), dport, payload)]

    assert sids(6, "10.1.0.9", 5, "10.9.3.3", 8050, b"GET /admin") == [1]
    assert sids(6, "10.1.0.9", 5, "10.8.3.3", 80, b"GET /admin") == []
    assert sids(6, "10.1.0.9", 5, "10.9.3.3", 8100, b"GET /admin") == []
    assert sids(6, "10.9.0.1", 80, "10.1.0.9", 5, b"--BEGIN") == [2]
    assert sids(6, "10.1.0.9", 5, "10.9.0.1", 80, b"--BeGiN") == [2]
    assert sids(17, "10.1.0.9", 5, "10.9.0.1", 53, b"\x07exammmple") == [3]
    assert sids(17, "10.1.0.9", 5, "10.9.0.1", 53, b"x\x07example") == []
    assert sids(17, "10.1.0.1", 5, "10.9.0.1", 99, b"z") == [4]
    assert sids(6, "10.1.0.2", 5, "10.9.0.1", 99, b"z") == []


def test_inspection_covers_either_direction_of_the_rules_ports():
    rules = RuleSet.parse(GOOD.splitlines()[:4])
    assert rules.inspects(6, 40000, 80) and rules.inspects(6, 80, 40000)
    assert rules.inspects(6, 40000, 8099) and not rules.inspects(6, 40000, 22)
    assert not rules.inspects(17, 40000, 80)
    everything = RuleSet.parse(['alert tcp any any -> any any (msg:"a"; content:"a"; sid:9;)'])
    assert everything.inspects(6, 1, 2) and not everything.inspects(17, 1, 2)


@pytest.mark.parametrize("line, error", [
    ('alert tcp any any -> any 80 (msg:"x"; sid:1;)', "rule 1 has neither content nor pcre"),
    ('alert tcp any any -> any 80 (content:"x"; sid:1;)', "needs msg and sid"),
    ('alert tcp any any -> any 80 (msg:"x"; content:"x"; sid:0;)', "sid '0'"),
    ('alert tcp any any -> any 80 (msg:"x"; content:"x"; sid:1; flow:established;)',
     "option 'flow' is not supported"),
    ('alert icmp any any -> any any (msg:"x"; content:"x"; sid:1;)', "protocol 'icmp'"),
    ('alert tcp any any -> any 70000 (msg:"x"; content:"x"; sid:1;)', "port '70000'"),
    ('alert tcp any any -> any 90:80 (msg:"x"; content:"x"; sid:1;)', "runs backwards"),
    ('alert tcp 10.0.0.300 any -> any 80 (msg:"x"; content:"x"; sid:1;)', "'10.0.0.300'"),
    ('alert tcp any any -> any 80 (msg:"x"; content:"|4g|"; sid:1;)', "not hex bytes"),
    ('alert tcp any any -> any 80 (msg:"x"; content:"|41"; sid:1;)', "unclosed"),
    ('alert tcp any any -> any 80 (msg:"x"; pcre:"/(/"; sid:1;)', "pcre '/(/'"),
    ('alert tcp any any -> any 80 (msg:"x"; pcre:"/a/q"; sid:1;)', "flag 'q'"),
    ('alert tcp any any -> any 80 (msg:"x"; nocase; content:"a"; sid:1;)', "nocase without"),
    ('alert tcp any any -> any 80 (msg:"x" content:"a"; sid:1;)', "cannot read options"),
    ("drop tcp any any -> any 80 (msg:\"x\"; content:\"a\"; sid:1;)", "not a rule"),
])
def test_a_bad_rule_is_refused_with_its_line_and_what_is_wrong(line, error):
    with pytest.raises(RuleError, match=r"local.rules:2: ") as info:
        RuleSet.parse(["# first", line], "local.rules")
    assert error in str(info.value)


def test_duplicate_sids_and_unreadable_files_are_refused(tmp_path):
    rule = 'alert tcp any any -> any 80 (msg:"x"; content:"a"; sid:7;)'
    with pytest.raises(RuleError, match="r:3: sid 7 already used on line 1"):
        RuleSet.parse([rule, "", rule], "r")
    with pytest.raises(RuleError, match=r"cannot read rules file .*missing\.rules"):
        RuleSet.load(tmp_path / "missing.rules")
