#!/usr/bin/env bash
# make bench: runs every benchmark binary built from bench/*.c with the
# machine's description first, so a pasted result carries its context.
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
build=${1:-build}
echo "== $(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "== OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset}  $(date -u +%Y-%m-%dT%H:%MZ)"
for b in "$build"/bench/*; do
    [ -x "$b" ] || continue
    echo "== $(basename "$b")"
    "$b"
done
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    echo "== PyTorch twins (same shapes, same threads)"
    OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} /usr/bin/python3 bench/ops_torch.py
else
    echo "== PyTorch twins skipped: apt-get install python3-torch to compare"
fi
