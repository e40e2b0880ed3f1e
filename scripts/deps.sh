#!/usr/bin/env bash
# Installs the Debian packages goro's build, demo and tests need, as root, unless they are all
# there already (then it does nothing, and needs no network). Sourced by scripts/demo.sh (the
# README's main command) and run by .ci/run, so both work on a fresh machine.
#   clang + libbpf-dev: the BPF programs (the build needs them);
#   binutils (readelf, strip) and bpftrace: probe cross-checks in the tests;
#   gdb (gcore) and passwd (useradd): the tests of `trace-cli inspect`;
#   tmux: the live view's tests (a real terminal, read back with capture-pane).
set -euo pipefail
pkgs=(clang libbpf-dev binutils bpftrace gdb passwd tmux)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        echo "deps: missing Debian packages: ${missing[*]} (install them as root: apt-get install ${missing[*]})" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
