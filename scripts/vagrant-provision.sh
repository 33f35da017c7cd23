#!/usr/bin/env bash
# Provision one VM of the Vagrant testbed (run by the Vagrantfile on every `vagrant up`).
#   scripts/vagrant-provision.sh HOST ROLE CONFIG INSTANCES TARGET CONTROLLER [MAC=IFNAME ...]
# Renames each data NIC, found by its MAC, to the interface name the configuration gives it,
# so the same names work in the embedded testbed, on VMs and on servers; runs the same
# `make setup` as everywhere else; where the bmv2 target needs them installs p4c (switch and
# controller, which pushes the compiled pipeline) and bmv2 (switch) and compiles p4/steer.p4
# into build/p4/; then installs and (re)starts the host's systemd units (`s6nf host units`)
# and checks they run. The last nf host waits until every agent is registered.
set -euo pipefail
usage="usage: vagrant-provision.sh HOST ROLE CONFIG INSTANCES TARGET CONTROLLER [MAC=IFNAME ...]"
host=${1:?$usage} role=${2:?$usage} config=${3:?$usage} instances=${4:?$usage}
target=${5:?$usage} controller=${6:?$usage}
shift 6
say() { printf 'provision %s: %s\n' "$host" "$*"; }
fail() { printf 'provision %s: FAILED: %s\n' "$host" "$*" >&2; exit 1; }
s6nf=/s6nf/.venv/bin/s6nf

for pair in "$@"; do
    mac=${pair%%=*} want=${pair#*=}
    have=$(ip -o link show | awk -v mac="$mac" '$0 ~ "link/ether " mac { sub(":$", "", $2); print $2 }')
    [ -n "$have" ] || fail "no NIC with MAC $mac for $want"
    if [ "$have" != "$want" ]; then
        ip link set dev "$have" down
        ip link set dev "$have" name "$want"
        say "renamed $have ($mac) to $want"
    fi
    ip link set dev "$want" up
done

cd /s6nf
make setup
if [ "$target" = bmv2 ] && { [ "$role" = switch ] || [ "$role" = controller ]; }; then
    bash scripts/install-p4.sh "$role"
    mkdir -p build/p4
    p4c --target bmv2 --arch v1model --p4runtime-files build/p4/steer.p4info.txtpb \
        -o build/p4 p4/steer.p4
    say "compiled p4/steer.p4 into build/p4/ (steer.json, steer.p4info.txtpb)"
fi

units=$("$s6nf" host units --config "$config" --host "$host" --instances "$instances" \
        --target "$target" --out /etc/systemd/system --s6nf "$s6nf")
if [ -n "$units" ]; then
    # shellcheck disable=SC2086 # one word per unit
    {
        systemctl daemon-reload
        systemctl enable $units
        systemctl restart $units
    }
    sleep 2
    for unit in $units; do
        systemctl is-active --quiet "$unit" \
            || fail "$unit is not running; see: journalctl -u $unit"
        say "$unit running"
    done
fi

last_nf=nf$((instances - 1))
if [ "$host" = "$last_nf" ]; then
    for _ in $(seq 60); do
        members=$("$s6nf" status --json --controller "$controller" 2>/dev/null \
                  | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["members"]))' \
                  || echo 0)
        [ "$members" -ge "$instances" ] && break
        sleep 2
    done
    if [ "$members" -lt "$instances" ]; then
        "$s6nf" config check --reach --instances "$instances" "$config" || true
        fail "only $members of $instances agents registered with the controller at $controller"
    fi
    say "all $instances agents registered with the controller at $controller"
fi
say "$host ($role) ready"
