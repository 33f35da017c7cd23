#!/usr/bin/env bash
# Provision one VM of the Vagrant testbed (run by the Vagrantfile on every `vagrant up`).
#   scripts/vagrant-provision.sh ROLE [MAC=IFNAME ...]
# Renames each data NIC, found by its MAC, to the interface name testbed.toml gives it, so the
# same names work in the embedded testbed, on VMs and on servers; then runs the same
# `make setup` as everywhere else; on the switch it also installs p4c and bmv2 and compiles
# p4/steer.p4 into build/p4/.
set -euo pipefail
role=${1:?usage: vagrant-provision.sh ROLE [MAC=IFNAME ...]}
shift
say() { printf 'provision: %s\n' "$*"; }

for pair in "$@"; do
    mac=${pair%%=*} want=${pair#*=}
    have=$(ip -o link show | awk -v mac="$mac" '$0 ~ "link/ether " mac { sub(":$", "", $2); print $2 }')
    [ -n "$have" ] || { say "FAILED: no NIC with MAC $mac for $want"; exit 1; }
    if [ "$have" != "$want" ]; then
        ip link set dev "$have" down
        ip link set dev "$have" name "$want"
        say "renamed $have ($mac) to $want"
    fi
    ip link set dev "$want" up
done

cd /s6nf
make setup
if [ "$role" = switch ]; then
    bash scripts/install-p4.sh
    mkdir -p build/p4
    p4c --target bmv2 --arch v1model --p4runtime-files build/p4/steer.p4info.txtpb \
        -o build/p4 p4/steer.p4
    say "compiled p4/steer.p4 into build/p4/ (steer.json, steer.p4info.txtpb)"
fi
say "$(hostname) ($role) ready"
