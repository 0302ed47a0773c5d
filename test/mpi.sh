#!/bin/sh
# Data-parallel training under mpirun (README "Running on a cluster"): N
# ranks with batch b must train what one process with batch N·b trains, to
# float32 tolerance (the sum over ranks adds the same per-window gradients in
# another order), and a resumed multi-rank run must be bitwise the
# uninterrupted one. Run by `make MPI=1 test` and `make test-mpi`; the plain
# build only checks that it refuses a multi-rank launch, or says it skipped.
# Ends with "mpi: N passed, N failed"; exits 1 if any check failed.
# usage: test/mpi.sh DERFSEQ_BINARY mpi|plain
set -u
bin=$1 kind=$2
dir=$(dirname "$bin")
diff_tool=$dir/test/tools/ckpt_diff
passed=0 failed=0
ok() { echo "ok   mpi: $1"; passed=$((passed + 1)); }
bad() { echo "FAIL mpi: $1"; failed=$((failed + 1)); }
finish() { echo "mpi: $passed passed, $failed failed"; [ "$failed" -eq 0 ]; exit $?; }

if ! command -v mpirun >/dev/null 2>&1; then
    if [ "$kind" = mpi ]; then bad "mpirun not found (apt-get install openmpi-bin)"; finish; fi
    echo "[mpi] skipped: derfseq is built without MPI and mpirun is absent ('make MPI=1 test' runs the data-parallel tests)"
    finish
fi
# Open MPI refuses root unless told; CI runs as root
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
mpi() { n=$1; shift; mpirun -n "$n" --oversubscribe --bind-to none "$@"; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/derfseq-mpi.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
genome=testdata/lambda_virus.fa.gz

if [ "$kind" = plain ]; then
    if mpi 2 "$bin" pretrain --model hyenadna-demo --steps 1 -o "$tmp/plain" "$genome" >"$tmp/log" 2>&1; then
        bad "the plain build trained under mpirun -n 2"
    elif grep -q "built without MPI: build it with 'make MPI=1'" "$tmp/log" && [ ! -e "$tmp/plain" ]; then
        ok "the plain build refuses mpirun -n 2 and writes nothing"
    else
        bad "the plain build under mpirun -n 2 did not say why:"; cat "$tmp/log"
    fi
    echo "[mpi] the data-parallel equivalence tests need the MPI build: make MPI=1 test"
    finish
fi
[ -x "$diff_tool" ] || { bad "$diff_tool is missing (make MPI=1 $diff_tool)"; finish; }

# the "loss" of every step line of a run log, one per line
losses() { sed -n 's/^{"step": *\([0-9]*\),.*"loss": *\([-0-9.eE+]*\).*/\1 \2/p' "$1"; }
# the last validation: "val_loss" (pretrain), else "val_accuracy" (finetune)
val_loss() {
    v=$(sed -n 's/.*"val_loss": *\([-0-9.eE+]*\).*/\1/p' "$1" | tail -n 1)
    [ -n "$v" ] || v=$(sed -n 's/.*"val_accuracy": *\([-0-9.eE+]*\).*/\1/p' "$1" | tail -n 1)
    printf '%s' "$v"
}
# close A B TOL: |a - b| <= TOL·|a| for numbers a and b
close() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; m = a < 0 ? -a : a; exit !(a != "" && b != "" && d <= t * m) }'; }

# same_run NAME ONE TWO: the logs' losses and validation loss, and last.safetensors, agree
same_run() {
    name=$1 a=$2 b=$3
    la=$(losses "$a/log.jsonl") lb=$(losses "$b/log.jsonl")
    na=$(printf '%s\n' "$la" | grep -c .) nb=$(printf '%s\n' "$lb" | grep -c .)
    if [ "$na" -lt 3 ] || [ "$na" -ne "$nb" ]; then bad "$name: $na against $nb logged steps"; return; fi
    worst=$(printf '%s\n%s\n' "$la" "$lb" | awk '{ v[$1] = v[$1] " " $2 } END { w = 0; for (s in v) { split(v[s], x, " "); d = x[1] - x[2]; if (d < 0) d = -d; r = d / (x[1] < 0 ? -x[1] : x[1]); if (r > w) w = r } printf "%.2e", w }')
    va=$(val_loss "$a/log.jsonl") vb=$(val_loss "$b/log.jsonl")
    d=$("$diff_tool" "$a/last.safetensors" "$b/last.safetensors") || { bad "$name: ckpt_diff failed"; return; }
    rel=${d%% *}
    # float32 sums in another order: 1e-5 of the loss, 1e-4 of the weights after a few AdamW steps
    if { [ -z "$va$vb" ] || close "$va" "$vb" 1e-5; } && awk -v w="$worst" -v r="$rel" 'BEGIN { exit !(w <= 1e-5 && r <= 1e-4) }'; then
        ok "$name: step losses within $worst, val loss $va / $vb, weights $rel apart"
    else
        bad "$name: step losses within $worst, val loss $va / $vb, weights $d"
    fi
}

# HyenaDNA, next-token LM, without dropout (each rank draws its own masks)
cat >"$tmp/hyena.json" <<'EOF'
{"arch": "hyenadna", "d_model": 64, "n_layer": 2, "d_inner": 256, "l_max": 130, "embed_dropout": 0.0, "resid_dropout": 0.0}
EOF
common="--steps 4 --seq-len 128 --eval-every 4 --eval-windows 16 --warmup 1 --lr 3e-3 -t 1 -q"
"$bin" pretrain --config "$tmp/hyena.json" $common --batch-size 4 -o "$tmp/h1" "$genome" >"$tmp/h1.log" 2>&1 ||
    { bad "hyenadna 1 x 4:"; cat "$tmp/h1.log"; }
mpi 2 "$bin" pretrain --config "$tmp/hyena.json" $common --batch-size 2 -o "$tmp/h2" "$genome" >"$tmp/h2.log" 2>&1 ||
    { bad "hyenadna 2 x 2:"; cat "$tmp/h2.log"; }
[ -s "$tmp/h1/last.safetensors" ] && [ -s "$tmp/h2/last.safetensors" ] && same_run "hyenadna: 2 ranks x 2 = 1 x 4" "$tmp/h1" "$tmp/h2"
grep -q '"ranks": 2' "$tmp/h2/config.json" && ok "config.json records 2 ranks" || bad "config.json lacks \"ranks\": 2"

# Caduceus-PS, masked LM, with gradient accumulation: masked positions differ
# per rank, so each rank's loss is weighted by its share of them
common="--steps 3 --seq-len 64 --accum 2 --eval-every 3 --eval-windows 16 --warmup 1 --lr 3e-3 -t 1 -q"
"$bin" pretrain --model caduceus-ps-1k $common --batch-size 4 -o "$tmp/c1" "$genome" >"$tmp/c1.log" 2>&1 ||
    { bad "caduceus 1 x 4:"; cat "$tmp/c1.log"; }
mpi 2 "$bin" pretrain --model caduceus-ps-1k $common --batch-size 2 -o "$tmp/c2" "$genome" >"$tmp/c2.log" 2>&1 ||
    { bad "caduceus 2 x 2:"; cat "$tmp/c2.log"; }
[ -s "$tmp/c1/last.safetensors" ] && [ -s "$tmp/c2/last.safetensors" ] && same_run "caduceus MLM, accum 2: 2 ranks x 2 = 1 x 4" "$tmp/c1" "$tmp/c2"

# GenomicBenchmarks fine-tuning from the dropout-free HyenaDNA checkpoint: 2
# ranks x 3 = 1 x 6 records a step; 99 training records, so the last batch of
# an epoch (3 records) splits 2 + 1
common="--task gb --epochs 2 --lr 3e-3 --val-fraction 0.175 --patience 5 -t 1 -q"
if [ -s "$tmp/h1/last.safetensors" ]; then
    "$bin" finetune --from "$tmp/h1/last.safetensors" $common --batch-size 6 -o "$tmp/f1" testdata/gb_lambda/tree >"$tmp/f1.log" 2>&1 ||
        { bad "finetune 1 x 6:"; cat "$tmp/f1.log"; }
    mpi 2 "$bin" finetune --from "$tmp/h1/last.safetensors" $common --batch-size 3 -o "$tmp/f2" testdata/gb_lambda/tree >"$tmp/f2.log" 2>&1 ||
        { bad "finetune 2 x 3:"; cat "$tmp/f2.log"; }
    [ -s "$tmp/f1/last.safetensors" ] && [ -s "$tmp/f2/last.safetensors" ] && same_run "GB finetune: 2 ranks x 3 = 1 x 6" "$tmp/f1" "$tmp/f2"
fi
# Caduceus-Ph: reverse-complement augmentation drawn over the global batch
"$bin" finetune --model caduceus-ph-1k $common --batch-size 6 -o "$tmp/p1" testdata/gb_lambda/tree >"$tmp/p1.log" 2>&1 ||
    { bad "caduceus-ph finetune 1 x 6:"; cat "$tmp/p1.log"; }
mpi 2 "$bin" finetune --model caduceus-ph-1k $common --batch-size 3 -o "$tmp/p2" testdata/gb_lambda/tree >"$tmp/p2.log" 2>&1 ||
    { bad "caduceus-ph finetune 2 x 3:"; cat "$tmp/p2.log"; }
[ -s "$tmp/p1/last.safetensors" ] && [ -s "$tmp/p2/last.safetensors" ] && same_run "Caduceus-Ph finetune with RC augmentation: 2 ranks x 3 = 1 x 6" "$tmp/p1" "$tmp/p2"

# wav2vec2 CTC: an update of 2 ranks x 1 batch is one process's 2
# accumulated batches (the same batches, masks and dropout streams; sentence_avg)
speech=testdata/speech/LibriSpeech-mini
common="--task ctc --model wav2vec2-demo --norm layernorm --steps 3 --lr 1e-3 --max-tokens 40000 --warmup 1 -t 1 -q"
"$bin" finetune $common --accum 2 -o "$tmp/s1" "$speech" >"$tmp/s1.log" 2>&1 || { bad "ctc 1 x accum 2:"; cat "$tmp/s1.log"; }
mpi 2 "$bin" finetune $common -o "$tmp/s2" "$speech" >"$tmp/s2.log" 2>&1 || { bad "ctc 2 ranks:"; cat "$tmp/s2.log"; }
[ -s "$tmp/s1/last.safetensors" ] && [ -s "$tmp/s2/last.safetensors" ] && same_run "wav2vec2 CTC: 2 ranks = 1 x accum 2" "$tmp/s1" "$tmp/s2"

# wav2vec2 pretraining on 2 ranks, stopped and resumed: bitwise the straight run
common="--model wav2vec2-demo --min-samples 8000 --crop 16000 --max-tokens 32000 --steps 3 -t 1 -q"
mpi 2 "$bin" pretrain $common -o "$tmp/w0" "$speech" >"$tmp/w0.log" 2>&1 || { bad "wav2vec2 2 ranks:"; cat "$tmp/w0.log"; }
mpi 2 "$bin" pretrain $common --stop-at 1 -o "$tmp/w1" "$speech" >"$tmp/w1.log" 2>&1 || { bad "wav2vec2 --stop-at:"; cat "$tmp/w1.log"; }
mpi 2 "$bin" pretrain --resume "$tmp/w1" -t 1 -q >"$tmp/w2.log" 2>&1 || { bad "wav2vec2 --resume:"; cat "$tmp/w2.log"; }
if [ -s "$tmp/w0/last.safetensors" ] && cmp -s "$tmp/w0/last.safetensors" "$tmp/w1/last.safetensors" && [ "$(losses "$tmp/w0/log.jsonl" | grep -c .)" = 3 ]; then
    ok "wav2vec2 pretraining on 2 ranks: 3 steps, resumed bitwise"
else
    bad "wav2vec2 pretraining on 2 ranks: the resumed run differs or steps are missing"
fi

# a 2-rank run stopped at step 2 and resumed on 2 ranks is bitwise the uninterrupted one
common="--model hyenadna-demo --steps 4 --seq-len 128 --batch-size 2 --eval-every 2 --eval-windows 8 -t 1 -q"
mpi 2 "$bin" pretrain $common -o "$tmp/r0" "$genome" >"$tmp/r0.log" 2>&1 || { bad "resume: the straight run:"; cat "$tmp/r0.log"; }
mpi 2 "$bin" pretrain $common --stop-at 2 -o "$tmp/r1" "$genome" >"$tmp/r1.log" 2>&1 || { bad "resume: --stop-at 2:"; cat "$tmp/r1.log"; }
mpi 2 "$bin" pretrain --resume "$tmp/r1" -t 1 >"$tmp/r2.log" 2>&1 || { bad "resume: --resume:"; cat "$tmp/r2.log"; }
if cmp -s "$tmp/r0/last.safetensors" "$tmp/r1/last.safetensors" && cmp -s "$tmp/r0/state.safetensors" "$tmp/r1/state.safetensors"; then
    ok "a 2-rank run resumed on 2 ranks is bitwise the uninterrupted run"
else
    bad "the resumed 2-rank run differs from the uninterrupted one"
fi
# on another rank count it goes on, and says what changes
"$bin" pretrain --resume "$tmp/r1" --steps 5 -t 1 >"$tmp/r3.log" 2>&1 && grep -q "resuming on 1 MPI rank where the run started on 2" "$tmp/r3.log" &&
    ok "resuming a 2-rank run in one process warns that the global batch changes" ||
    { bad "resume on 1 rank:"; cat "$tmp/r3.log"; }

# commands that do not train refuse a multi-rank launch
mpi 2 "$bin" info testdata/caduceus_tiny_ps.safetensors >"$tmp/info.log" 2>&1 && bad "info ran on 2 ranks" ||
    { grep -q "'info' runs in one process" "$tmp/info.log" && ok "info refuses mpirun -n 2" || { bad "info under mpirun:"; cat "$tmp/info.log"; }; }

finish
