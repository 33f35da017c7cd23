"""The systemd units that run each host's part on VMs or servers, from the configuration.

``s6nf host units --config FILE --host NAME`` writes them; Vagrant's provisioning installs
and starts them (scripts/vagrant-provision.sh). What runs where (docs/real-servers.md):

- switch, target ``bmv2``: ``s6nf-bmv2`` — ``simple_switch_grpc`` with no program, its ports
  the switch's data interfaces (the one from gen as port 0, the one to nf<i> as port i + 1,
  the ports ``steer.p4``'s key space names), P4Runtime on the target's address; the
  controller pushes the compiled ``p4/steer.p4`` with SetForwardingPipelineConfig;
- switch, target ``ebpf``: ``s6nf-datapath`` (XDP ``steer`` on the data interfaces) and
  ``s6nf-target`` (``s6nf p4 server`` over its pinned maps);
- nf host: ``s6nf-datapath`` (the NF's XDP program and reply entry) and ``s6nf-agent``;
- sink: ``s6nf-datapath`` (the XDP sink); gen: nothing (traffic is sent by hand);
- controller: ``s6nf-controller``.

Only the standard library is imported: the Vagrantfile's ``python3`` renders the next-step
text from here too.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Sequence
from pathlib import Path

from s6nf.config.schema import TARGET_KINDS, ConfigError, TargetConfig, TestbedConfig

BMV2_OUTPUTS = (Path("build/p4/steer.p4info.txtpb"), Path("build/p4/steer.json"))
"""Where provisioning has p4c write ``p4/steer.p4``'s P4Info and bmv2 JSON, relative to the
repository."""
SIMPLE_SWITCH_GRPC = "/usr/bin/simple_switch_grpc"
PIN_ROOT = Path("/sys/fs/bpf/s6nf/host")
"""Where ``s6nf host up`` pins a host's programs and maps (``PIN_ROOT/<host>``)."""
GEN_PORT = 0
"""The bmv2 port of the switch's interface from gen (nf<i> is i + 1, as on the eBPF target)."""


def with_target(config: TestbedConfig, kind: str, root: Path) -> TestbedConfig:
    """``config`` with its target ``kind`` (``S6NF_TARGET`` for Vagrant); a bmv2 target
    without p4c's outputs gets the ones provisioning compiles under ``root``."""
    if kind not in TARGET_KINDS:
        raise ConfigError("target.kind", f"unknown value {kind!r}; one of "
                          f"{', '.join(TARGET_KINDS)}")
    target = config.target
    if kind == target.kind:
        return config
    if kind == "ebpf":
        new = TargetConfig("ebpf", target.address, target.device_id, None, None)
    else:
        p4info, device_config = (root / p for p in BMV2_OUTPUTS)
        new = TargetConfig("bmv2", target.address, target.device_id, p4info, device_config)
    return dataclasses.replace(config, target=new)


def pin_dir(host: str) -> Path:
    """Where ``s6nf host up`` pins ``host``'s programs and maps by default."""
    return PIN_ROOT / host


def bmv2_command(config: TestbedConfig, instances: int) -> list[str]:
    """``simple_switch_grpc`` with the switch's data interfaces as ports and no program."""
    switch, gen = config.only("switch"), config.only("gen")
    ports = [f"{GEN_PORT}@{config.link_between(switch.name, gen.name)[0].name}"]
    for nf in config.nf_hosts[:instances]:
        ports.append(f"{nf.instance + 1}@{config.link_between(switch.name, nf.name)[0].name}")
    return [SIMPLE_SWITCH_GRPC, "--device-id", str(config.target.device_id), "--no-p4",
            *(arg for port in ports for arg in ("-i", port)),
            "--", "--grpc-server-addr", config.target.address]


def controller_command(config: TestbedConfig, s6nf: str, config_path: Path) -> list[str]:
    """The controller; for a bmv2 target it pushes p4c's outputs (the file's, or the ones
    ``with_target`` chose)."""
    argv = [s6nf, "controller", "run", "--config", str(config_path)]
    target = config.target
    if target.kind == "bmv2":
        assert target.device_config is not None and target.p4info is not None
        argv += ["--device-config", str(target.device_config), "--p4info", str(target.p4info)]
    return argv


def agent_command(config: TestbedConfig, s6nf: str, config_path: Path, host: str) -> list[str]:
    """The agent of nf host ``host``, running the NF's slow path with ``[nf.options]``."""
    return [s6nf, "agent", "run", "--config", str(config_path), "--host", host,
            "--pin-dir", str(pin_dir(host)), "--nf", config.nf.name,
            *(arg for k, v in config.nf.options for arg in ("--nf-option", f"{k}={v}"))]


def datapath_commands(s6nf: str, config_path: Path, host: str,
                      instances: int) -> tuple[list[str], list[str]]:
    """``s6nf host up`` and ``s6nf host down`` for ``host``."""
    common = ["--config", str(config_path), "--host", host, "--instances", str(instances)]
    return [s6nf, "host", "up", *common], [s6nf, "host", "down", *common]


def units(config: TestbedConfig, host: str, *, s6nf: str, config_path: Path, workdir: Path,
          instances: int) -> dict[str, str]:
    """File name → text of every unit ``host`` runs (none for gen)."""
    role = config.host(host).role
    out: dict[str, str] = {}
    about = f"s6nf {role} host {host}"
    if role in ("nf", "sink") or (role == "switch" and config.target.kind == "ebpf"):
        up, down = datapath_commands(s6nf, config_path, host, instances)
        out["s6nf-datapath.service"] = _unit(
            f"{about}: XDP programs on its data interfaces", up, workdir, oneshot=down)
    if role == "switch" and config.target.kind == "bmv2":
        out["s6nf-bmv2.service"] = _unit(
            f"{about}: bmv2 (simple_switch_grpc) on its data interfaces, P4Runtime at "
            f"{config.target.address}", bmv2_command(config, instances), workdir)
    if role == "switch" and config.target.kind == "ebpf":
        target = config.target
        out["s6nf-target.service"] = _unit(
            f"{about}: the eBPF target over P4Runtime at {target.address}",
            [s6nf, "p4", "server", "--config", str(config_path), "--pin-dir",
             str(pin_dir(host)), "--address", target.address, "--device-id",
             str(target.device_id)], workdir, after="s6nf-datapath.service")
    if role == "nf":
        out["s6nf-agent.service"] = _unit(
            f"{about}: the agent of instance {config.host(host).instance}",
            agent_command(config, s6nf, config_path, host), workdir,
            after="s6nf-datapath.service")
    if role == "controller":
        out["s6nf-controller.service"] = _unit(
            f"{about}: the controller at {config.controller_address}",
            controller_command(config, s6nf, config_path), workdir)
    return out


def _unit(description: str, argv: Sequence[str], workdir: Path, *,
          oneshot: Sequence[str] | None = None, after: str | None = None) -> str:
    """A service that waits for the network; restarted while its peers are not up yet, or
    (``oneshot``, with its stop command) run once and kept as active."""
    needs = "network-online.target" + (f" {after}" if after else "")
    lines = ["[Unit]", f"Description={description}", f"After={needs}",
             "Wants=network-online.target", *([f"Requires={after}"] if after else []), "",
             "[Service]", f"WorkingDirectory={workdir}"]
    if oneshot is not None:
        lines += ["Type=oneshot", "RemainAfterExit=yes", f"ExecStart={shlex.join(argv)}",
                  f"ExecStop={shlex.join(oneshot)}"]
    else:
        lines += [f"ExecStart={shlex.join(argv)}", "Restart=always", "RestartSec=3"]
    lines += ["", "[Install]", "WantedBy=multi-user.target", ""]
    return "\n".join(lines)


def next_steps(config: TestbedConfig, instances: int, vm_config: str) -> str:
    """What to run once ``vagrant up`` is done: scale, then traffic from gen, then status."""
    ctl = config.controller.host
    gen = config.only("gen")
    to_switch = config.link_between(gen.name, config.only("switch").name)
    s6nf = "sudo /s6nf/.venv/bin/s6nf"
    return "\n".join([
        f"s6nf: every VM is up; the {config.target.kind} target, the controller and "
        f"{instances} agent(s) are running (systemctl status 's6nf-*' on each VM).",
        "Next: steer traffic over the instances, send a workload from gen, look at the result:",
        f"  vagrant ssh {ctl} -c '{s6nf} scale to {instances} --controller "
        f"{config.controller_address}'",
        f"  vagrant ssh {gen.name} -c '{s6nf} workload --flows 2000 --rate 20000 "
        f"--out /tmp/w.pcap && sudo tcpreplay -i {to_switch[0].name} --pps 20000 /tmp/w.pcap'",
        f"  vagrant ssh {ctl} -c '{s6nf} status --controller {config.controller_address}'",
        f"(configuration: {vm_config})"])
