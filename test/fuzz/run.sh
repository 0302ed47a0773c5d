#!/bin/sh
# Runs libFuzzer harnesses one after another (make fuzz): BIN/fuzz_<name>
# on BIN/corpus/<name>/ for FUZZ_TIME seconds each, then prints per harness
# the executions, seconds and coverage (cov = edges, ft = features) from
# libFuzzer's final lines. Exits 1 if any harness found a crash, leak,
# UBSan report, timeout or out-of-memory; its input is in BIN/artifacts/.
#   usage: FUZZ_TIME=60 test/fuzz/run.sh build-fuzz fasta npy ...
set -u
bin=${1:?usage: run.sh BIN NAME...}
shift
time=${FUZZ_TIME:-30}
mkdir -p "$bin/artifacts" "$bin/logs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
failed=""
report=""
for n in "$@"; do
    case $n in
        npy) max_len=1024 ;;
        regions | config) max_len=2048 ;;
        *) max_len=4096 ;;
    esac
    dict=""
    [ -f "test/fuzz/dict/$n.dict" ] && dict="-dict=test/fuzz/dict/$n.dict"
    log="$bin/logs/$n.log"
    echo "[fuzz] $n: ${time}s, -max_len=$max_len (log: $log)"
    "$bin/fuzz_$n" -max_total_time="$time" -max_len="$max_len" -rss_limit_mb=2048 -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$bin/artifacts/$n-" $dict "$bin/corpus/$n" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
    result=ok
    if [ $rc -ne 0 ]; then
        result="FAILED (exit $rc): $(grep -o "$bin/artifacts/[^ ]*" "$log" | tail -n 1)"
        failed="$failed $n"
        grep -m 3 -E 'ERROR: |runtime error|invariant broken' "$log" | sed 's/^/    /'
    fi
    report="$report$(printf '%-12s %10s %6s %6s %6s  %s' "$n" "${execs:--}" "${secs:--}" "${cov:--}" "${ft:--}" "$result")
"
done
printf '%-12s %10s %6s %6s %6s  %s\n' harness executions secs cov ft result
printf '%s' "$report"
if [ -n "$failed" ]; then
    echo "[fuzz] failed:$failed"
    exit 1
fi
