"""The Vagrant testbed and the embedded one come from the same configuration file."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from s6nf.config import DEFAULT_PATH, load
from s6nf.config.vagrant import vagrant_hosts
from s6nf.testbed.topology import embedded

ROOT = DEFAULT_PATH.parent


def test_vagrant_hosts_and_the_embedded_topology_agree():
    config = load()
    ids = [h.instance for h in config.nf_hosts]
    vagrant = vagrant_hosts(config, instances=len(ids))
    topo = embedded("tb", ids, config)
    assert set(topo.hosts) <= {h["name"] for h in vagrant["hosts"]}
    interfaces = {(h["name"], d["name"]): d for h in vagrant["hosts"] for d in h["data"]}
    ends = [e for link in topo.links for e in (link.a, link.b)]
    assert len(ends) == len(interfaces)
    for end in ends:
        d = interfaces[(end.host, end.ifname)]
        assert (d["mac"], f"{d['ip']}/{end.address.split('/')[1]}") == (end.mac, end.address)
    for link in topo.links:
        assert (interfaces[(link.a.host, link.a.ifname)]["network"]
                == interfaces[(link.b.host, link.b.ifname)]["network"])
    assert len({d["network"] for d in interfaces.values()}) == len(topo.links)
    assert {h["management"]["ip"] for h in vagrant["hosts"]} == {
        h.management_ip for h in config.hosts}


def test_the_module_runs_with_the_system_python_and_no_venv():
    """The Vagrantfile runs it with the host's python3, outside the venv."""
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    out = subprocess.run([python, "-m", "s6nf.config.vagrant", str(DEFAULT_PATH)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=True,
                         env={"PATH": "/usr/bin:/bin"})
    assert '"s6nf-sw-nf0"' in out.stdout


def _validate(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["vagrant", "validate", "--ignore-provider"], cwd=ROOT, capture_output=True, text=True,
        timeout=120, env={**os.environ, "VAGRANT_DOTFILE_PATH": str(tmp_path / "dot"),
                          "VAGRANT_HOME": str(tmp_path / "home"), **env})


needs_vagrant = pytest.mark.skipif(shutil.which("vagrant") is None,
                                   reason="vagrant is not installed (make setup installs it)")


@needs_vagrant
def test_vagrant_validate_builds_a_vm_per_configured_host(tmp_path):
    done = _validate(tmp_path, S6NF_NF_HOSTS="3")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Vagrantfile validated successfully" in done.stdout
    machines = {line.split(":")[0].removeprefix("==> ") for line in done.stdout.splitlines()
                if line.startswith("==> ")}
    assert machines == {"ctl", "sw", "gen", "sink", "nf0", "nf1", "nf2"}


@needs_vagrant
def test_vagrant_refuses_a_bad_configuration_naming_the_field(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(DEFAULT_PATH.read_text().replace('role = "gen"', 'role = "router"'))
    done = _validate(tmp_path, S6NF_CONFIG=str(bad))
    assert done.returncode != 0
    assert "hosts.gen.role: unknown value 'router'" in done.stdout + done.stderr


@needs_vagrant
def test_the_vms_are_the_files_hosts(tmp_path):
    """One more nf host and instance in the file is one more VM, with nothing else changed:
    the Vagrantfile's machines come from the configuration, like the embedded testbed's."""
    three = tmp_path / "three.toml"
    three.write_text(DEFAULT_PATH.read_text().replace("instances = 2", "instances = 3"))
    assert load(three).nf.instances == 3
    inside = ROOT / f".vagrant-test-{os.getpid()}.toml"
    inside.write_text(three.read_text())
    try:
        done = _validate(tmp_path, S6NF_CONFIG=str(inside))
    finally:
        inside.unlink()
    assert done.returncode == 0, done.stdout + done.stderr
    machines = {line.split(":")[0].removeprefix("==> ") for line in done.stdout.splitlines()
                if line.startswith("==> ")}
    topo = embedded("tb", list(range(3)), load(three))
    assert machines == set(topo.hosts) | {"ctl"}
