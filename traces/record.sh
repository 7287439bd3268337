#!/bin/sh
# Records the shipped traces: each program runs under valgrind lackey, its
# log is kept zstd-compressed in LOGDIR (lackey is slow; a log can be
# imported again, e.g. with another --max-records or --layout, without
# running the program again), then `faultline trace import` streams it.
#
#   traces/record.sh LOGDIR            record every log, then import
#   traces/record.sh LOGDIR import     import the logs already in LOGDIR
#
# Inputs are generated with fixed seeds or come from the cargo registry
# (zstd-sys, a dependency of faultline), so a rerun on Debian 12 with the
# same valgrind, gcc, coreutils, xz and Python gives the same traces.
# cc1 under lackey runs for well over an hour and its log is several GB
# compressed; the others take minutes.
set -eu
LOGDIR=${1:?usage: traces/record.sh LOGDIR [import]}
STAGE=${2:-all}
HERE=$(cd "$(dirname "$0")" && pwd)
FAULTLINE=${FAULTLINE:-$HERE/../target/release/faultline}
# Each shipped trace keeps its first MAX records (the repository stays small).
MAX=${MAX:-12000000}
mkdir -p "$LOGDIR"
W=$LOGDIR/work
mkdir -p "$W"

record() { # NAME COMMAND...: lackey's log of COMMAND -> LOGDIR/NAME.lackey.zst
    name=$1; shift
    echo "recording $name: $*" >&2
    valgrind --tool=lackey --trace-mem=yes --log-fd=9 "$@" 9>&1 >/dev/null 2>/dev/null \
        | zstd -q -3 -T1 -o "$LOGDIR/$name.lackey.zst" -f
}

inputs() {
    # sort: 9 MB of random six-word lines
    python3 -c "
import random; random.seed(1)
w = ['alpha','beta','gamma','delta','swap','zswap','fault','page','cache','readahead']
print(''.join(' '.join(random.choice(w) for _ in range(6)) + ' %d\n' % random.randint(0, 10**9) for _ in range(1200000)), end='')
" | head -c 9000000 > "$W/text.txt"
    # cc1: zstd's compressor, preprocessed (one translation unit, 7843 lines)
    ZSTD=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/zstd-sys-2.1.3+zstd.1.5.7/zstd/lib | head -1)
    gcc -E -I"$ZSTD" -I"$ZSTD/common" "$ZSTD/compress/zstd_compress.c" -o "$W/zstd_compress.i"
}

if [ "$STAGE" = all ]; then
    inputs
    record cc1 "$(gcc -print-prog-name=cc1)" -quiet -O2 "$W/zstd_compress.i" -o "$W/zstd_compress.s"
    record sort sort "$W/text.txt" -o "$W/sorted.txt"
    record xz xz -6 -k -c "$W/text.txt"
    # python3: a dict of 300,000 strings, sorted (no site import; string
    # hashing fixed so that the interpreter's own lookups repeat; the real
    # binary, not a pyenv shim script)
    export PYTHONHASHSEED=0
    record python3 "$(python3 -c 'import sys; print(sys.executable)')" -S -c \
        "d = {i: str(i * 7919) for i in range(300000)}; s = sorted(d.values()); print(len(s), s[:2])"
fi
for name in cc1 sort xz python3; do
    zstd -q -dc "$LOGDIR/$name.lackey.zst" \
        | "$FAULTLINE" trace import --max-records "$MAX" - "$HERE/$name.fltrace"
done
