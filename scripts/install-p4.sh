#!/usr/bin/env bash
# Install the P4 tools a Vagrant testbed VM needs for the bmv2 target, from the P4 project's
# published packages for this distribution (p4lang's repository on the openSUSE Build
# Service; see "Installing packages" in p4c's README for the address for your release).
# Debian itself packages neither. Idempotent.
#   scripts/install-p4.sh ROLE      switch: p4c and bmv2 (simple_switch_grpc); controller: p4c
#   S6NF_P4_APT_REPO  the repository's base address for this distribution (required)
set -euo pipefail
role=${1:?usage: install-p4.sh switch|controller}
say() { printf 'install-p4: %s\n' "$*"; }
fail() { printf 'install-p4: FAILED: %s\n       fix: %s\n' "$1" "$2" >&2; exit 1; }

case $role in
    switch) packages=(p4lang-p4c p4lang-bmv2) commands=(p4c simple_switch_grpc) ;;
    controller) packages=(p4lang-p4c) commands=(p4c) ;;
    *) fail "unknown role $role" "give switch or controller" ;;
esac
missing=0
for c in "${commands[@]}"; do command -v "$c" >/dev/null || missing=1; done
if [ "$missing" -eq 0 ]; then
    say "${commands[*]} present"
    exit 0
fi
repo=${S6NF_P4_APT_REPO:-}
# shellcheck source=/dev/null
[ -n "$repo" ] || fail "S6NF_P4_APT_REPO is not set" \
    "export it (on the host, before 'vagrant up') to the P4 project's package repository for $(. /etc/os-release; echo "$PRETTY_NAME"), as p4c's README gives it"
keyring=/usr/share/keyrings/p4lang.gpg
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends curl gpg >/dev/null
curl -fsSL "$repo/Release.key" | gpg --dearmor --yes -o "$keyring" \
    || fail "could not fetch $repo/Release.key" "check S6NF_P4_APT_REPO ($repo)"
echo "deb [signed-by=$keyring] $repo/ /" > /etc/apt/sources.list.d/p4lang.list
apt-get update -q >/dev/null
say "installing ${packages[*]}"
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${packages[@]}" >/dev/null \
    || fail "apt-get install ${packages[*]} failed" "run it by hand to see why"
for c in "${commands[@]}"; do
    command -v "$c" >/dev/null || fail "the packages installed no $c" "check their contents"
done
say "installed ${commands[*]} ($(p4c --version | head -n 1))"
