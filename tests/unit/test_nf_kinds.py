"""Choosing and configuring an agent's NF from the command line's --nf and --nf-option."""

import pytest

from s6nf.nfs.runtime import kind_of

RULE = 'alert tcp any any -> any 80 (msg:"admin"; content:"/admin"; sid:1;)\n'


def test_each_nf_by_name_with_its_program_and_entries(tmp_path):
    rules = tmp_path / "local.rules"
    rules.write_text(RULE)
    assert kind_of("monitor", {}).entries[0] == "xdp_monitor"
    ids = kind_of("ids", {"rules": str(rules), "whitelist": "10.0.0.1,10.0.0.2",
                          "scan_threshold": "5", "inspect_all": "1"})
    assert (ids.program, ids.entries) == ("ids", ("xdp_ids", "xdp_ids_reply"))
    assert kind_of("nat", {"public": "198.51.100.1"}).program == "nat"


@pytest.mark.parametrize("name, options, error", [
    ("firewall", {}, "unknown NF 'firewall'; this agent runs: nat, monitor, ids"),
    ("monitor", {"x": "1"}, "unknown monitor options ['x']"),
    ("ids", {}, "the IDS needs rules=FILE"),
    ("ids", {"rules": "RULES", "threshold": "3"}, "unknown IDS options ['threshold']"),
    ("ids", {"rules": "RULES", "whitelist": "10.0.0.300"}, "'10.0.0.300' is not an IPv4"),
    ("ids", {"rules": "RULES", "scan_threshold": "0"}, "scan threshold 0 must be >= 1"),
    ("ids", {"rules": "missing.rules"}, "cannot read rules file"),
])
def test_bad_nf_settings_say_what_is_wrong(tmp_path, name, options, error):
    rules = tmp_path / "local.rules"
    rules.write_text(RULE)
    options = {k: str(rules) if v == "RULES" else v for k, v in options.items()}
    with pytest.raises(ValueError) as info:
        kind_of(name, options)
    assert error in str(info.value)
