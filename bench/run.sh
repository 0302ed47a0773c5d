#!/usr/bin/env bash
# make bench: runs every benchmark binary built from bench/*.c and, when
# Debian's python3-torch is installed, the PyTorch twins on the same shapes
# and thread count, then prints derfseq/PyTorch ratios. The first lines name
# the machine, so a pasted result carries its context.
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
build=${1:-build}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "== $(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "== OMP_NUM_THREADS=$OMP_NUM_THREADS  OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(auto)}  load $(cut -d" " -f1 /proc/loadavg)  $(date -u +%Y-%m-%dT%H:%MZ)"
for b in "$build"/bench/*; do
    [ -x "$b" ] || continue
    case $(basename "$b") in make_genome) continue;; esac   # a genome generator (genome_scale.sh), not a benchmark
    echo "== $(basename "$b")"
    "$b" | tee -a "$out"
done
# trained weights (their activations can reach denormals): BENCH_CADUCEUS_CKPT=RUN/best.safetensors
if [ -n "${BENCH_CADUCEUS_CKPT:-}" ]; then
    echo "== bench_models caduceus-ps-1k on $BENCH_CADUCEUS_CKPT"
    "$build"/bench/bench_models caduceus-ps-1k "$BENCH_CADUCEUS_CKPT"
fi
# trained wav2vec2 weights: BENCH_W2V_CKPT=RUN/best.safetensors, pretrained (derfseq pretrain --model
# wav2vec2-tiny ...) or CTC (derfseq finetune --task ctc ...: no pretraining steps then)
if [ -n "${BENCH_W2V_CKPT:-}" ]; then
    echo "== bench_wav2vec2 on $BENCH_W2V_CKPT"
    "$build"/bench/bench_wav2vec2 checkpoint "$BENCH_W2V_CKPT" | tee -a "$out"
fi
# Trained weights (a saturated Derf backward makes float32 subnormals, issue
# 14): the bench trains hyenadna-tiny-1k per norm on a genome (BENCH_GENOME:
# default the GRCh38 fragment of ../shared/data when present, else the bundled
# lambda genome) for BENCH_PRETRAIN_STEPS steps, then times those weights as
# derfseq runs them (FTZ/DAZ) and with BENCH_KEEP_DENORMALS=1, and one epoch
# of GenomicBenchmarks fine-tuning from each on testdata/gb_lambda; with
# BENCH_HYENADNA_OFFICIAL, the official code runs on the same weights too.
genome=${BENCH_GENOME:-../shared/data/genomes/human_GRCh38_chr2_1-2333275.fa.gz}
[ -f "$genome" ] || genome=testdata/lambda_virus.fa
steps=${BENCH_PRETRAIN_STEPS:-300}
tw=$(mktemp -d)
trap 'rm -f "$out"; rm -rf "$tw"' EXIT
echo "== trained hyenadna-tiny-1k: $steps steps of B8 x 1024 on $genome, per norm (best of 2, interleaved)"
for norm in derf layernorm; do
    "$build"/derfseq pretrain --model hyenadna-tiny-1k --norm "$norm" --steps "$steps" --batch-size 8 --seq-len 1024 \
        --eval-every 0 --eval-windows 16 -t "$OMP_NUM_THREADS" -q -o "$tw/$norm" "$genome"
done
for rep in 1 2; do
    for norm in derf layernorm; do
        "$build"/bench/bench_models hyenadna-tiny-1k "$tw/$norm/last.safetensors" | grep "^derfseq" |
            sed "s/hyenadna-tiny-1k /trained-$norm /" | tee -a "$out"
        BENCH_KEEP_DENORMALS=1 "$build"/bench/bench_models hyenadna-tiny-1k "$tw/$norm/last.safetensors" | grep "^derfseq" |
            sed "s/hyenadna-tiny-1k /trained-$norm-denormals-kept /" | tee -a "$out"
        t0=$(date +%s.%N)
        "$build"/derfseq finetune --from "$tw/$norm/last.safetensors" --task gb testdata/gb_lambda/tree --epochs 1 \
            -t "$OMP_NUM_THREADS" -q -o "$tw/ft-$norm-$rep"
        echo "derfseq finetune-gb trained-$norm $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s" |
            tee -a "$out"
    done
    # the official HyenaDNA code on the same trained weights (PyTorch's default: denormals kept)
    if [ -n "${BENCH_HYENADNA_OFFICIAL:-}" ] && /usr/bin/python3 -c 'import torch' 2>/dev/null; then
        for norm in derf layernorm; do
            /usr/bin/python3 bench/hyenadna_official.py --norm "$norm" --weights "$tw/$norm/last.safetensors" \
                --label "trained-$norm" hyenadna-tiny-1k | tee -a "$out"
        done
    fi
done
awk 'function best(a, k, v) { if (!(k in a) || v > a[k]) a[k] = v }
     $1 == "derfseq" && $2 ~ /^trained-/ { for (i = 1; i <= NF; i++) { if ($i == "train") best(tr, $2, $(i + 1)); if ($i == "infer") best(inf, $2, $(i + 1)) } }
     $1 == "official" && $2 ~ /^trained-/ { for (i = 1; i <= NF; i++) { if ($i == "train") best(otr, $2, $(i + 1)); if ($i == "infer") best(oinf, $2, $(i + 1)) } }
     $1 == "derfseq" && $2 == "finetune-gb" { if (!($3 in ft) || $4 < ft[$3]) ft[$3] = $4 }
     END { if (tr["trained-layernorm"] > 0)
             printf "trained Derf / LayerNorm: train %.2fx  inference %.2fx  fine-tune time %.2fx (denormals kept: train %.2fx)\n",
                    tr["trained-derf"] / tr["trained-layernorm"], inf["trained-derf"] / inf["trained-layernorm"],
                    ft["trained-derf"] / ft["trained-layernorm"], tr["trained-derf-denormals-kept"] / tr["trained-layernorm-denormals-kept"]
           for (k in otr)
             printf "%-20s vs the official code on the same trained weights: train %.2fx  inference %.2fx\n", k,
                    tr[k] / otr[k], inf[k] / oinf[k] }' "$out"
# Caduceus and wav2vec2 on trained weights: unless BENCH_CADUCEUS_CKPT /
# BENCH_W2V_CKPT name checkpoints (above), the bench trains its own, Derf
# and the model's official norm (RMSNorm for Caduceus, LayerNorm for
# wav2vec2): caduceus-ps-1k BENCH_CADUCEUS_STEPS (default 60) MLM steps of
# B 4 x 1024 on the genome, wav2vec2-tiny BENCH_W2V_STEPS (default 150)
# steps on the bundled speech (testdata/speech).
if [ -z "${BENCH_CADUCEUS_CKPT:-}" ]; then
    cs=${BENCH_CADUCEUS_STEPS:-60}
    echo "== trained caduceus-ps-1k: $cs MLM steps of B4 x 1024 on $genome, Derf and RMSNorm"
    for norm in derf rmsnorm; do
        "$build"/derfseq pretrain --model caduceus-ps-1k --norm "$norm" --steps "$cs" --batch-size 4 --seq-len 1024 \
            --eval-every 0 --eval-windows 8 -t "$OMP_NUM_THREADS" -q -o "$tw/cad-$norm" "$genome"
        "$build"/bench/bench_models caduceus-ps-1k "$tw/cad-$norm/last.safetensors" | grep "^derfseq" |
            sed "s/caduceus-ps-1k /trained-cad-$norm /" | tee -a "$out"
    done
fi
if [ -z "${BENCH_W2V_CKPT:-}" ]; then
    ws=${BENCH_W2V_STEPS:-150}
    echo "== trained wav2vec2-tiny: $ws steps on testdata/speech, Derf and LayerNorm"
    for norm in derf layernorm; do
        "$build"/derfseq pretrain --model wav2vec2-tiny --norm "$norm" testdata/speech -o "$tw/w2v-$norm" --steps "$ws" \
            --min-samples 16000 --crop 32000 --max-tokens 64000 --lr 1e-3 --warmup 20 --eval-every 0 \
            -t "$OMP_NUM_THREADS" -q
        "$build"/bench/bench_wav2vec2 wav2vec2-tiny "$tw/w2v-$norm/last.safetensors" | grep "^derfseq" |
            sed "s/^derfseq [^ ]* /derfseq trained-w2v-$norm /" | tee -a "$out"
    done
fi
awk '$1 == "derfseq" && $2 ~ /^trained-(cad|w2v)-/ { for (i = 3; i < NF; i++) {
         if ($i == "train" && !(($2, "train") in v)) v[$2, "train"] = $(i + 1)
         if ($i == "infer" && !(($2, "infer") in v)) v[$2, "infer"] = $(i + 1) } }
     END { if (v["trained-cad-rmsnorm", "train"] > 0)
             printf "trained Caduceus Derf / RMSNorm: train %.2fx  inference %.2fx\n",
                    v["trained-cad-derf", "train"] / v["trained-cad-rmsnorm", "train"], v["trained-cad-derf", "infer"] / v["trained-cad-rmsnorm", "infer"]
           if (v["trained-w2v-layernorm", "train"] > 0)
             printf "trained wav2vec2 Derf / LayerNorm: train %.2fx  inference %.2fx\n",
                    v["trained-w2v-derf", "train"] / v["trained-w2v-layernorm", "train"], v["trained-w2v-derf", "infer"] / v["trained-w2v-layernorm", "infer"] }' "$out"
# Embed length sweeps: one inference-only encode per length, each in its own
# process so the peak RSS printed is that length's; then the exponents of
# time and RSS fitted over the longer half (least squares in log-log: short
# lengths are dominated by fixed costs). BENCH_SWEEP_MAX caps both sweeps
# (default 1000000: hyenadna-large-1m at 1 Mbp needs about 9 GB).
fit() {   # stdin: sweep lines; prints the fitted exponents over L >= $1
    awk -v from="$1" '$1 == "derfseq" && $2 == "sweep" && $5 >= from {
        x = log($5); t = log($6); m = log($(NF - 1)); n++
        sx += x; sxx += x * x; st += t; sxt += x * t; sm += m; sxm += x * m; name = $3
    } END { if (n > 1) { d = n * sxx - sx * sx
        printf "derfseq sweep-fit %s L >= %d: time ~ L^%.3f  peak RSS ~ L^%.3f  (%d lengths)\n", name, from,
               (n * sxt - sx * st) / d, (n * sxm - sx * sm) / d, n } }'
}
max=${BENCH_SWEEP_MAX:-1000000}
sweep=$(mktemp)
echo "== hyenadna-large-1m embed length sweep (batch 1, up to $max)"
for L in 1024 4096 16384 65536 131072 262144 524288 1000000; do
    [ "$L" -le "$max" ] || continue
    "$build"/bench/bench_models sweep hyenadna-large-1m "$L" | tee -a "$sweep"
done
fit 65536 < "$sweep"
: > "$sweep"
echo "== caduceus-ps-131k embed length sweep (batch 1)"
for L in 1024 4096 16384 65536 131072; do
    [ "$L" -le "$max" ] || continue
    "$build"/bench/bench_models sweep caduceus-ps-131k "$L" | tee -a "$sweep"
done
fit 16384 < "$sweep"
rm -f "$sweep"
if ! /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    echo "== PyTorch twins skipped: apt-get install python3-torch to compare"
    exit 0
fi
echo "== PyTorch twins (same shapes, same threads)"
/usr/bin/python3 bench/ops_torch.py | tee -a "$out"
/usr/bin/python3 bench/hyenadna_torch.py | tee -a "$out"
# the official HyenaDNA code with the official Derf patch: BENCH_HYENADNA_OFFICIAL=PATH/standalone_hyenadna.py
/usr/bin/python3 bench/hyenadna_official.py | tee -a "$out"
/usr/bin/python3 bench/caduceus_torch.py | tee -a "$out"
/usr/bin/python3 bench/wav2vec2_torch.py "$build"/bench/bench_wav2vec2 | tee -a "$out"
echo "== derfseq / PyTorch (higher is better for tok/s, lower for RSS)"
awk '
    $1 == "derfseq" || $1 == "torch" || $1 == "official" {
        if ($2 ~ /^(hyenadna|caduceus)/) {
            key = $2; who = $1
            for (i = 1; i <= NF; i++) {
                if ($i == "train") tr[who, key] = $(i + 1)
                if ($i == "infer") inf[who, key] = $(i + 1)
                if ($i == "RSS") rss[who, key] = $(i + 1)
            }
            keys[key] = 1
        }
    }
    $1 ~ /^(derf|dyt|layernorm)$/ && /fwd\+bwd/ { for (i = 1; i <= NF; i++) if ($i == "fwd+bwd") ours[$1] = $(i + 1) }
    $1 == "torch" && $2 ~ /^(derf|dyt|layernorm)$/ { for (i = 1; i <= NF; i++) if ($i == "fwd+bwd") theirs[$2] = $(i + 1) }
    # wav2vec2: one line per measurement (bench_wav2vec2.c, wav2vec2_torch.py)
    ($1 == "derfseq" || $1 == "torch" || $1 == "torchaudio") && $2 ~ /^wav2vec2/ {
        key = $2; who = $1
        for (i = 1; i <= NF; i++) {
            if ($i == "infer") { winf[who, key] = $(i + 1); for (j = i; j <= NF; j++) if ($j == "RSS") wirss[who, key] = $(j + 1) }
            if ($i == "train") { wtr[who, key] = $(i + 1); for (j = i; j <= NF; j++) if ($j == "RSS") wtrss[who, key] = $(j + 1) }
            if ($i == "ctc-infer") { wci[who, key] = $(i + 1); for (j = i; j <= NF; j++) if ($j == "RSS") wcirss[who, key] = $(j + 1) }
            if ($i == "ctc-train") { wct[who, key] = $(i + 1); for (j = i; j <= NF; j++) if ($j == "RSS") wctrss[who, key] = $(j + 1) }
        }
        wkeys[key] = 1
    }
    END {
        for (k in wkeys) {
            if (winf["torch", k] > 0)
                printf "%-20s inference %.2fx realtime vs %.2fx: %.2fx  peak RSS %.2fx\n", k, winf["derfseq", k],
                       winf["torch", k], winf["derfseq", k] / winf["torch", k], wirss["derfseq", k] / wirss["torch", k]
            if (wtr["torch", k] > 0)
                printf "%-20s train %.2f vs %.2f audio-s/s: %.2fx  peak RSS %.2fx\n", k, wtr["derfseq", k],
                       wtr["torch", k], wtr["derfseq", k] / wtr["torch", k], wtrss["derfseq", k] / wtrss["torch", k]
            if (wct["torch", k] > 0)
                printf "%-20s ctc fine-tune %.2f vs %.2f audio-s/s: %.2fx  peak RSS %.2fx\n", k, wct["derfseq", k],
                       wct["torch", k], wct["derfseq", k] / wct["torch", k], wctrss["derfseq", k] / wctrss["torch", k]
            if (wci["torch", k] > 0)
                printf "%-20s ctc inference %.2fx realtime vs %.2fx: %.2fx  peak RSS %.2fx\n", k, wci["derfseq", k],
                       wci["torch", k], wci["derfseq", k] / wci["torch", k], wcirss["derfseq", k] / wcirss["torch", k]
            if (winf["torchaudio", k] > 0)
                printf "%-20s inference vs torchaudio %.2fx realtime: %.2fx\n", k, winf["torchaudio", k],
                       winf["derfseq", k] / winf["torchaudio", k]
        }
        for (k in keys)
            if (tr["official", k] > 0)
                printf "%-20s vs the official code: train %.2fx  inference %.2fx  peak RSS %.2fx\n", k,
                       tr["derfseq", k] / tr["official", k], inf["derfseq", k] / inf["official", k], rss["derfseq", k] / rss["official", k]
        for (k in keys)
            if (tr["torch", k] > 0)
                printf "%-20s train %.2fx  inference %.2fx  peak RSS %.2fx\n", k, tr["derfseq", k] / tr["torch", k],
                       inf["derfseq", k] / inf["torch", k], rss["derfseq", k] / rss["torch", k]
        for (n in ours)
            if (theirs[n] > 0) printf "%-20s fwd+bwd speed %.2fx\n", n, theirs[n] / ours[n]
    }' "$out" | sort

# Scale-out (bench/README.md "Scale-out"): with the MPI build (make MPI=1
# bench), pretraining on 1 process against 2 ranks on the same cores, and the
# ring-allreduce projection to 8, 64 and 512 ranks.
if "$build/derfseq" --version | grep -q '^MPI: Open MPI'; then
    echo "== mpi_scaling (bench/mpi_scaling.sh) on $genome"
    bench/mpi_scaling.sh "$build" "$genome"
else
    echo "== mpi_scaling: skipped, $build/derfseq is built without MPI ('make MPI=1 bench' runs it)"
fi
# Genome scale (bench/README.md "Genome scale"): BENCH_GENOME_SCALE=1 writes
# a 3.1 Gbp genome (about 1 GB, bgzip) under $build/genome_scale and times
# pretrain's first step, embed over 100,000 regions and eval over chr21.
if [ "${BENCH_GENOME_SCALE:-0}" = 1 ]; then
    echo "== genome_scale (bench/genome_scale.sh)"
    bench/genome_scale.sh "$build"
else
    echo "== genome_scale: skipped (BENCH_GENOME_SCALE=1 runs it: 1 GB of disk, about 15 minutes)"
fi
