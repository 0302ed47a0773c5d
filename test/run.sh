#!/bin/sh
# The test suite as `make test` and `make asan` run it: every test once with
# the environment's OpenBLAS kernel, then the numeric tests (PyTorch goldens
# and finite-difference checks) again under each OpenBLAS kernel this CPU
# can execute, so one machine checks what other x86-64 CPUs will compute.
# Ends with one "total: N passed, N failed" line; exits 1 if any test failed.
# usage: test/run.sh TEST_BINARY DERFSEQ_BINARY
set -u
testbin=$1
export DERFSEQ_BIN=$2 OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
has() { case " $flags " in *" $1 "*) return 0;; esac; return 1; }

passed=0 failed=0
tally() {   # runs the test binary with "$@", adds its closing line to the totals
    out=$("$testbin" "$@" 2>&1); rc=$?
    printf '%s\n' "$out"
    last=$(printf '%s\n' "$out" | tail -n 1)
    p=$(printf '%s' "$last" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
    f=$(printf '%s' "$last" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
    if [ -z "$p" ]; then echo "test binary ended abnormally (status $rc)"; p=0; f=1; fi
    [ "$rc" -ne 0 ] && [ "$f" = 0 ] && f=1
    passed=$((passed + p)); failed=$((failed + f))
}

tally
for k in Prescott Sandybridge Haswell Zen SkylakeX; do
    case $k in
        Sandybridge) has avx || { echo "[kernels] $k: skipped, this CPU lacks AVX"; continue; } ;;
        Haswell|Zen) { has avx2 && has fma; } || { echo "[kernels] $k: skipped, this CPU lacks AVX2/FMA"; continue; } ;;
        SkylakeX) { has avx512f && has avx512bw && has avx512dq && has avx512vl; } ||
                      { echo "[kernels] $k: skipped, this CPU lacks AVX-512"; continue; } ;;
    esac
    echo "[kernels] numeric tests with OPENBLAS_CORETYPE=$k"
    OPENBLAS_CORETYPE=$k tally golden finite_differences
done
echo "total: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
