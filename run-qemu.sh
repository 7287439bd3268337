#!/usr/bin/env bash
# faultline's one command: sets up what a fresh machine lacks, then runs the
# `faultline` CLI with your arguments.
#
#   ./run-qemu.sh                      the main job: lab seed --scale mini (the seed table)
#   ./run-qemu.sh run --set workload.size=128M --json
#   ./run-qemu.sh run --gdb            start halted, print the gdb command
#
# Set-up: installs the toolchain pinned in rust-toolchain.toml (with
# rust-src, llvm-tools and the x86_64-unknown-none target), and QEMU with
# apt when it is missing and we are root (otherwise prints the command).
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v rustup >/dev/null 2>&1; then
    echo "run-qemu.sh: rustup is needed; see https://rustup.rs" >&2
    exit 1
fi
# Installs exactly what rust-toolchain.toml lists (a no-op when present).
rustup toolchain install >/dev/null

if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
    install="apt-get update && apt-get install -y --no-install-recommends qemu-system-x86"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "run-qemu.sh: installing QEMU: $install" >&2
        sh -c "$install" >&2
    else
        echo "run-qemu.sh: qemu-system-x86_64 is missing. Install it with:" >&2
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
