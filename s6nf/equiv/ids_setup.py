"""The IDS as the checker runs it: rules that the trace's ``TRIGGERS`` match (by content, by
pcre, by both, one either way), on some of its service ports only, a whitelisted inside host,
and a port-scan threshold that a host opening three flows crosses; the window outlasts any
run, so nothing is pruned or re-alerted on a clock."""

from __future__ import annotations

from s6nf.nfs.ids import IdsConfig
from s6nf.nfs.rules import RuleSet

RULES = (
    'alert tcp any any -> any [80,8080] (msg:"admin page"; content:"/admin"; nocase; sid:1001;)',
    'alert tcp any [80,8080] <> any any (msg:"leak marker"; content:"|de ad be ef|"; sid:1002;)',
    'alert ip any any -> any [53,8080] (msg:"credentials"; pcre:"/user=[a-z]{3,8};pass=/i"; '
    'sid:1003;)',
    'alert udp any any -> any 53 (msg:"odd query"; content:"example"; '
    'pcre:"/\\x07example\\x03(com|org)/s"; sid:1004;)',
)
CONTENT_SIDS = frozenset({1001, 1002})
PCRE_SIDS = frozenset({1003, 1004})
WHITELISTED = "10.1.0.2"
"""Inside host 1 of a trace with ``hosts`` >= 2: its flows are neither inspected nor counted."""
SCAN_THRESHOLD = 3
IDS_CONFIG = IdsConfig(RuleSet.parse(RULES, "equiv rules"), whitelist=(WHITELISTED,),
                       scan_threshold=SCAN_THRESHOLD, scan_window_s=3600.0)
