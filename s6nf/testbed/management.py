"""The embedded testbed's management network: a bridge in its own namespace, one veth to each
host namespace, addresses from the configuration (``hosts.<name>.management``).

Control and state traffic (P4Runtime, the controller's API, the agents' services) goes over
it exactly as over a separate network between servers; nothing uses loopback. The bridge's
namespace is ``<testbed>-mgmt``; in it each host's port is named after the host, and in each
host's namespace the interface is ``mgmt``.
"""

from __future__ import annotations

import ipaddress

from pyroute2 import IPRoute

from s6nf.config import TestbedConfig

BRIDGE_HOST = "mgmt"
"""The namespace suffix of the bridge's namespace (not a configured host)."""
BRIDGE = "br0"
HOST_IFNAME = "mgmt"


def make_bridge(bridge_ns: str) -> None:
    """Create the bridge in ``bridge_ns`` (made by the caller); idempotent."""
    with IPRoute(netns=bridge_ns) as ipr:
        if not ipr.link_lookup(ifname=BRIDGE):
            ipr.link("add", ifname=BRIDGE, kind="bridge")
        ipr.link("set", index=ipr.link_lookup(ifname=BRIDGE)[0], state="up")


def attach(config: TestbedConfig, host: str, bridge_ns: str, host_ns: str) -> None:
    """Connect ``host``'s namespace to the bridge with its configured management address;
    idempotent. Removing the host's namespace removes the veth pair with it."""
    iface = ipaddress.IPv4Interface(config.host(host).management)
    with IPRoute(netns=bridge_ns) as ipr:
        if not ipr.link_lookup(ifname=host):
            ipr.link("add", ifname=host, kind="veth",
                     peer={"ifname": HOST_IFNAME, "net_ns_fd": host_ns})
        port = ipr.link_lookup(ifname=host)[0]
        ipr.link("set", index=port, master=ipr.link_lookup(ifname=BRIDGE)[0], state="up")
    with IPRoute(netns=host_ns) as ipr:
        index = ipr.link_lookup(ifname=HOST_IFNAME)[0]
        if not any(a.get_attr("IFA_ADDRESS") == str(iface.ip)
                   for a in ipr.get_addr(index=index)):
            ipr.addr("add", index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen)
        ipr.link("set", index=index, state="up")
