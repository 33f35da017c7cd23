#!/usr/bin/env bash
# Install p4c and bmv2 (simple_switch_grpc) on the Vagrant testbed's switch VM, from the P4
# project's published packages for this distribution (p4lang's repository on the openSUSE
# Build Service; see "Installing packages" in p4c's README for the address for your release).
# Debian itself packages neither. Idempotent.
#   S6NF_P4_APT_REPO  the repository's base address for this distribution (required)
set -euo pipefail
say() { printf 'install-p4: %s\n' "$*"; }
fail() { printf 'install-p4: FAILED: %s\n       fix: %s\n' "$1" "$2" >&2; exit 1; }

if command -v p4c >/dev/null && command -v simple_switch_grpc >/dev/null; then
    say "p4c and simple_switch_grpc present"
    exit 0
fi
repo=${S6NF_P4_APT_REPO:-}
[ -n "$repo" ] || fail "S6NF_P4_APT_REPO is not set" \
    "export it (on the host, before 'vagrant up') to the P4 project's package repository for $(. /etc/os-release; echo "$PRETTY_NAME"), as p4c's README gives it"
keyring=/usr/share/keyrings/p4lang.gpg
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends curl gpg >/dev/null
curl -fsSL "$repo/Release.key" | gpg --dearmor --yes -o "$keyring" \
    || fail "could not fetch $repo/Release.key" "check S6NF_P4_APT_REPO ($repo)"
echo "deb [signed-by=$keyring] $repo/ /" > /etc/apt/sources.list.d/p4lang.list
apt-get update -q >/dev/null
say "installing p4lang-p4c and p4lang-bmv2"
DEBIAN_FRONTEND=noninteractive apt-get install -y -q p4lang-p4c p4lang-bmv2 >/dev/null \
    || fail "apt-get install p4lang-p4c p4lang-bmv2 failed" "run it by hand to see why"
command -v simple_switch_grpc >/dev/null \
    || fail "p4lang-bmv2 installed no simple_switch_grpc" "check the package's contents"
say "p4c $(p4c --version | head -n 1), simple_switch_grpc installed"
