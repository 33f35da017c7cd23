#!/usr/bin/env bash
# s6nf setup: system packages, kernel headers for bcc, bpffs, and a virtual environment that
# can import bcc. Idempotent: every step checks before it acts. Run by `make setup`.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
SYSTEM_PYTHON=/usr/bin/python3
# vagrant: only to check the Vagrantfile (`vagrant validate`, no box or provider needed);
# the last package lints the provisioning scripts (tests/unit/test_scripts.py).
APT_PACKAGES=(python3-bpfcc python3-venv clang llvm bpftool iproute2 tcpreplay protobuf-compiler
              vagrant shellcheck)

say() { printf 'setup: %s\n' "$*"; }
fail() { printf 'setup: FAILED: %s\n       fix: %s\n' "$1" "$2" >&2; exit 1; }

apt_updated=0
apt_install() {
    [ "$(id -u)" -eq 0 ] || fail "packages missing: $*" "run 'sudo make setup' (installing needs root)"
    command -v apt-get >/dev/null || fail "apt-get not found; packages missing: $*" \
        "s6nf needs a Debian or Ubuntu machine, or install these by hand: $*"
    if [ "$apt_updated" -eq 0 ]; then
        say "apt-get update"
        apt-get -o DPkg::Lock::Timeout=300 update -q >/dev/null || fail "apt-get update failed" "check the package sources in /etc/apt"
        apt_updated=1
    fi
    say "installing $*"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q \
        --no-install-recommends "$@" >/dev/null \
        || fail "apt-get install $* failed" "run it by hand to see the error"
}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; else say "system packages present"; fi

kernel=$(uname -r)
moddir=/lib/modules/$kernel
if [ -e "$moddir/build/include/linux/kconfig.h" ] || [ -e "$moddir/build/Makefile" ]; then
    say "kernel headers for $kernel present"
elif apt-cache show "linux-headers-$kernel" >/dev/null 2>&1; then
    apt_install "linux-headers-$kernel"
else
    arch=$(dpkg --print-architecture)
    say "no headers package for the running kernel $kernel; falling back to the distribution's default headers (linux-headers-$arch)"
    dpkg-query -W -f='${Status}' "linux-headers-$arch" 2>/dev/null | grep -q "install ok installed" \
        || apt_install "linux-headers-$arch"
    hdr=$(ls -d /usr/src/linux-headers-*-"$arch" 2>/dev/null | sort -V | tail -n 1)
    common=${hdr%-"$arch"}-common
    [ -d "$hdr" ] && [ -d "$common" ] || fail "linux-headers-$arch installed no /usr/src/linux-headers-*-$arch" \
        "install headers matching $kernel and link them at $moddir/build"
    mkdir -p "$moddir"
    ln -sfn "$hdr" "$moddir/build"
    ln -sfn "$common" "$moddir/source"
    say "linked $moddir/build -> $hdr and $moddir/source -> $common"
fi

if mount | grep -q ' /sys/fs/bpf type bpf '; then
    say "bpffs mounted at /sys/fs/bpf"
elif [ "$(id -u)" -eq 0 ]; then
    mount -t bpf bpf /sys/fs/bpf || fail "could not mount bpffs" "mount -t bpf bpf /sys/fs/bpf"
    say "mounted bpffs at /sys/fs/bpf"
else
    say "bpffs not mounted (needs root); eBPF pinning will not work until 'sudo make setup'"
fi

[ -x "$SYSTEM_PYTHON" ] || fail "$SYSTEM_PYTHON not found" "install python3 from the distribution"
if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtual environment $VENV (with the system site packages, for bcc)"
    "$SYSTEM_PYTHON" -m venv --system-site-packages "$VENV" \
        || fail "could not create $VENV" "install python3-venv"
fi
"$VENV/bin/python" -c "import bcc, bcc.libbcc" 2>/dev/null \
    || fail "the virtual environment cannot import bcc" \
        "install python3-bpfcc (never the PyPI package named bcc) and remove $VENV"

stamp="$VENV/.s6nf-installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ -e "$stamp" ]; then
    say "s6nf and its dev extras installed in $VENV"
else
    say "installing s6nf (editable) with dev extras into $VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[dev]' \
        || fail "pip install failed" "run '$VENV/bin/python -m pip install -e .[dev]' to see the error"
    rm -f "$VENV"/.s6nf-installed-*
    touch "$stamp"
fi
say "ready: activate with 'source $VENV/bin/activate' or run '$VENV/bin/s6nf'"
