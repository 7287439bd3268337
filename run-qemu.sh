#!/usr/bin/env bash
# faultline's one command: sets up what a fresh machine lacks, then runs the
# `faultline` CLI with your arguments.
#
#   ./run-qemu.sh                      the main job: lab seed --scale mini (the seed table)
#   ./run-qemu.sh run --set workload.size=128M --json
#   ./run-qemu.sh run --gdb            start halted, print the gdb command
#
# Set-up: installs the toolchain pinned in rust-toolchain.toml (with
# rust-src, llvm-tools and the x86_64-unknown-none target), and QEMU,
# e2fsprogs and binutils with apt when missing and we are root (otherwise
# prints the command).
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v rustup >/dev/null 2>&1; then
    echo "run-qemu.sh: rustup is needed; see https://rustup.rs" >&2
    exit 1
fi
# Installs exactly what rust-toolchain.toml lists (a no-op when present).
rustup toolchain install >/dev/null

# QEMU boots the kernel; mke2fs (e2fsprogs) makes the ext2 image of the
# build tree that the seed experiment's jobs read through the page cache;
# strip (binutils) takes the debug info out of the kernel before it is
# imaged.
missing=""
command -v qemu-system-x86_64 >/dev/null 2>&1 || missing="$missing qemu-system-x86"
if ! command -v mke2fs >/dev/null 2>&1 && [ ! -x /sbin/mke2fs ] && [ ! -x /usr/sbin/mke2fs ]; then
    missing="$missing e2fsprogs"
fi
command -v strip >/dev/null 2>&1 || missing="$missing binutils"
if [ -n "$missing" ]; then
    install="apt-get update && apt-get install -y --no-install-recommends$missing"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "run-qemu.sh: installing$missing: $install" >&2
        sh -c "$install" >&2
    else
        echo "run-qemu.sh: missing$missing. Install with:" >&2
        echo "    sudo sh -c '$install'" >&2
        exit 1
    fi
fi

if [ "$#" -eq 0 ]; then
    # The main job: the seed thread's table from our own runs (a few
    # minutes on 2 cores; files in lab-results/seed-mini).
    set -- lab seed --scale mini
fi
exec cargo run --quiet -p faultline -- "$@"
