#!/usr/bin/env bash
# The paper's comparison as one command: for each norm (layernorm, dyt, derf
# by default) pretrain one trunk on a genome (or start from scratch without
# -g), fine-tune it on every dataset with several seeds, evaluate the test
# split, and print test accuracy and MCC as mean ± sd per dataset and norm;
# with gnuplot installed, also a PNG of the validation-accuracy curves.
#
#   bench/compare_norms.sh [-g GENOME.fa.gz] [-m PRESET] [-p PRETRAIN_STEPS] [-s "1 2 3"]
#                          [-e EPOCHS] [-n "layernorm dyt derf"] [-o OUT_DIR] [-x "FINETUNE OPTS"]
#                          [-r REF.fa for coordinate datasets] DATASET_DIR...
set -euo pipefail
bin=${DERFSEQ:-build/derfseq}
eval_extra= genome= preset=hyenadna-tiny-1k psteps=2000 seeds="1 2 3" epochs=10 norms="layernorm dyt derf" out=compare-norms extra=
while getopts g:m:p:s:e:n:o:x:r:h opt; do
    case $opt in
    g) genome=$OPTARG ;; m) preset=$OPTARG ;; p) psteps=$OPTARG ;; s) seeds=$OPTARG ;;
    e) epochs=$OPTARG ;; n) norms=$OPTARG ;; o) out=$OPTARG ;; x) extra=$OPTARG ;; r) eval_extra="--ref $OPTARG"; extra="$extra --ref $OPTARG" ;;
    *) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { echo "compare_norms.sh: give at least one DATASET_DIR (-h for usage)" >&2; exit 2; }
mkdir -p "$out"
results="$out/results.tsv"
printf 'norm\tdataset\tseed\taccuracy\tmcc\n' > "$results"
for norm in $norms; do
    if [ -n "$genome" ]; then
        trunk="$out/pretrain-$norm"
        [ -f "$trunk/last.safetensors" ] || "$bin" pretrain --model "$preset" --norm "$norm" "$genome" -o "$trunk" \
            --steps "$psteps" --eval-every "$psteps" --save-every "$psteps" --quiet
        from=(--from "$trunk/last.safetensors")
    else
        from=(--model "$preset" --norm "$norm")
    fi
    for data in "$@"; do
        name=$(basename "$data")
        for seed in $seeds; do
            run="$out/ft-$norm-$name-$seed"
            [ -f "$run/best.safetensors" ] || "$bin" finetune "${from[@]}" --task gb --epochs "$epochs" --seed "$seed" \
                --quiet $extra "$data" -o "$run"
            "$bin" eval --from "$run/best.safetensors" --json "$run/test.json" --quiet $eval_extra "$data" >/dev/null
            acc=$(sed -n 's/.*"accuracy": \([0-9.e+-]*\).*/\1/p' "$run/test.json" | head -1)
            mcc=$(sed -n 's/.*"mcc": \([0-9.e+-]*\).*/\1/p' "$run/test.json" | head -1)
            printf '%s\t%s\t%s\t%s\t%s\n' "$norm" "$name" "$seed" "$acc" "$mcc" >> "$results"
            # validation accuracy per epoch, for the plot
            grep '"val_accuracy"' "$run/log.jsonl" | sed 's/.*"epoch":\([0-9]*\).*"val_accuracy":\([0-9.e+-]*\).*/\1 \2/' \
                > "$run/val.dat"
        done
    done
done
echo "test split, mean ± sd over seeds ($seeds):"
awk -F'\t' 'NR > 1 { k = $2 "\t" $1; n[k]++; a[k] += $4; a2[k] += $4 * $4; m[k] += $5; m2[k] += $5 * $5 }
    END {
        printf "dataset\tnorm\tn\taccuracy\tmcc\n"
        for (k in n) {
            sa = n[k] > 1 ? sqrt((a2[k] - a[k] * a[k] / n[k]) / (n[k] - 1)) : 0
            sm = n[k] > 1 ? sqrt((m2[k] - m[k] * m[k] / n[k]) / (n[k] - 1)) : 0
            printf "%s\t%d\t%.4f ± %.4f\t%.4f ± %.4f\n", k, n[k], a[k] / n[k], sa, m[k] / n[k], sm
        }
    }' "$results" | sort | tee "$out/summary.tsv"
if command -v gnuplot >/dev/null; then
    for data in "$@"; do
        name=$(basename "$data")
        plot="" sep=""
        for norm in $norms; do
            # the mean over seeds of each epoch's validation accuracy
            cat "$out"/ft-"$norm"-"$name"-*/val.dat | awk '{ s[$1] += $2; c[$1]++ } END { for (e in s) print e, s[e] / c[e] }' \
                | sort -n > "$out/val-$norm-$name.dat"
            plot="$plot$sep'$out/val-$norm-$name.dat' with linespoints title '$norm'"
            sep=", "
        done
        gnuplot -e "set terminal png size 800,500; set output '$out/val-$name.png'; set xlabel 'epoch';
                    set ylabel 'validation accuracy (mean over seeds)'; set title '$name'; set key bottom right;
                    plot $plot"
        echo "plot: $out/val-$name.png"
    done
else
    echo "(apt-get install gnuplot-nox for the validation-accuracy plots)"
fi
