#!/bin/sh
# Data-parallel throughput (bench/README.md "Scale-out"): pretraining tokens/s
# on one process with -t T and on 2 MPI ranks with -t T/2 each (the same
# cores, the same global batch), the share of rank 0's time spent in the
# gradient sum, and the ring-allreduce (alpha-beta) projection of the
# efficiency at 8, 64 and 512 ranks from each model's gradient size and
# measured step time.
# First the sum alone (bench_allreduce) for this machine's alpha and beta.
# usage: bench/mpi_scaling.sh BUILD_MPI_DIR [GENOME]
# MPI_BENCH_STEPS (default 12) steps per run; MPI_BENCH_THREADS (default 2)
# cores in all; MPI_BENCH_ALPHA (s) and MPI_BENCH_BETA (bytes/s) the network
# of the projection (default 5e-6 and 12.5e9: one 100 Gb/s InfiniBand link);
# MPI_BENCH_ONLY=speech runs wav2vec2-base alone.
set -eu
build=${1:-build-mpi}
genome=${2:-testdata/lambda_virus.fa.gz}
bin=$build/derfseq
steps=${MPI_BENCH_STEPS:-12}
T=${MPI_BENCH_THREADS:-2}
half=$(( T / 2 > 0 ? T / 2 : 1 ))
alpha=${MPI_BENCH_ALPHA:-5e-6}
beta=${MPI_BENCH_BETA:-12.5e9}
work=$(mktemp -d "${TMPDIR:-/tmp}/derfseq-mpibench.XXXXXX")
trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$bin" --version | grep -q '^MPI: not built' && { echo "mpi_scaling: $bin is not the MPI build (make MPI=1)"; exit 1; }

# last LOG KEY: the value of KEY in the last step line of a run log
last() { grep '"step"' "$1" | grep '"loss"' | tail -n 1 | sed -n "s/.*\"$2\": *\\([-0-9.eE+]*\\).*/\\1/p"; }

echo "== the gradient sum alone (bench_allreduce, 2 ranks)"
mpirun -n 2 --oversubscribe --bind-to none "$build/bench/bench_allreduce" 1e8
echo "== pretraining, one process against 2 ranks on the same $T cores"
printf '%-20s %8s %12s %12s %8s %10s %10s | %s\n' preset params "1 x -t $T" "2 x -t $half" speedup "allreduce" "step (s)" \
    "projected efficiency at 8 / 64 / 512 ranks (ring, alpha $alpha s, beta $beta B/s)"
run() {   # run PRESET B L [extra pretrain options]
    preset=$1 B=$2 L=$3; shift 3
    opts="--model $preset --steps $steps --seq-len $L --eval-every 0 --eval-windows 1 --warmup 1 -q $*"
    "$bin" pretrain $opts --batch-size $((2 * B)) -t "$T" -o "$work/$preset.1" "$genome" >"$work/log1" 2>&1 ||
        { cat "$work/log1"; exit 1; }
    mpirun -n 2 --oversubscribe --bind-to none "$bin" pretrain $opts --batch-size "$B" -t "$half" -o "$work/$preset.2" "$genome" \
        >"$work/log2" 2>&1 || { cat "$work/log2"; exit 1; }
    one=$(last "$work/$preset.1/log.jsonl" tokens_per_s)
    two=$(last "$work/$preset.2/log.jsonl" tokens_per_s)
    comm=$(last "$work/$preset.2/log.jsonl" allreduce_s)
    wall=$(last "$work/$preset.2/log.jsonl" wall_s)
    n=$("$bin" info "$work/$preset.1/last.safetensors" 2>/dev/null | sed -n 's/^parameters: *\([0-9,]*\).*/\1/p' | tr -d ,)
    project "$preset" "$n" "$one" "$two" "$comm" "$wall" "$(awk -v t="$((2 * B * L))" -v r="$one" 'BEGIN { print t / r }')"
}

# project NAME PARAMS ONE TWO COMM WALL STEP_S: one table row
project() {
    awk -v p="$1" -v n="$2" -v one="$3" -v two="$4" -v comm="$5" -v wall="$6" -v step="$7" -v a="$alpha" -v b="$beta" 'BEGIN {
        line = ""
        for (i = 1; i <= 3; i++) { P = (i == 1 ? 8 : i == 2 ? 64 : 512);
            t = 2 * (P - 1) * a + 2 * (P - 1) / P * 4 * n / b;   # ring allreduce of n float32
            line = line sprintf("%s%.3f", i > 1 ? " / " : "", step / (step + t)) }
        printf "%-20s %8.2fM %12.2f %12.2f %7.2fx %9.1f%% %10.3f | %s (allreduce at 64: %.1f ms)\n", p, n / 1e6, one, two,
            two / one, 100 * comm / wall, step, line, 1e3 * (2 * 63 * a + 2 * 63 / 64 * 4 * n / b) }'
}

# wav2vec2: one process accumulating 2 batches against 2 ranks with one each
# (audio-s/s); the projection's step is fairseq's Base batch per GPU, 1.4M
# samples (87.5 s of audio), at the one-process rate
run_speech() {   # run_speech PRESET
    preset=$1 speech=testdata/speech/LibriSpeech-mini
    opts="--model $preset --steps $steps --min-samples 8000 --crop 32000 --max-tokens 32000 --warmup 1 -q"
    "$bin" pretrain $opts --accum 2 -t "$T" -o "$work/$preset.1" "$speech" >"$work/log1" 2>&1 || { cat "$work/log1"; exit 1; }
    mpirun -n 2 --oversubscribe --bind-to none "$bin" pretrain $opts -t "$half" -o "$work/$preset.2" "$speech" \
        >"$work/log2" 2>&1 || { cat "$work/log2"; exit 1; }
    one=$(last "$work/$preset.1/log.jsonl" audio_s_per_s)
    two=$(last "$work/$preset.2/log.jsonl" audio_s_per_s)
    n=$("$bin" info "$work/$preset.1/last.safetensors" 2>/dev/null | sed -n 's/^parameters: *\([0-9,]*\).*/\1/p' | tr -d ,)
    project "$preset (audio-s/s)" "$n" "$one" "$two" "$(last "$work/$preset.2/log.jsonl" allreduce_s)" \
        "$(last "$work/$preset.2/log.jsonl" wall_s)" "$(awk -v r="$one" 'BEGIN { print 87.5 / r }')"
}

[ "${MPI_BENCH_ONLY:-}" = speech ] || {
run hyenadna-tiny-1k 4 1024
run hyenadna-small-32k 2 1024
run caduceus-ps-1k 4 1024
}
run_speech wav2vec2-base
