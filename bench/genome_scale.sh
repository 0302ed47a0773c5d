#!/bin/sh
# Genome-scale inputs (bench/README.md "Genome scale"): a 3.1 Gbp genome of
# GRCh38's 25 contigs (bench/make_genome.c: random bases, GRCh38's large N
# runs), bgzipped with its .gzi, next to a 5 Mbp one of the same layout, and
# on each:
#   - the .fai build, once (derfseq builds it when missing);
#   - pretrain --steps 1: wall time from start to the first step done (and
#     its checkpoint written), peak RSS: it must not grow with the genome
#     (faidx random access, no whole-genome load);
#   - embed --ref over BED files of 1,000 and 100,000 random 200 bp regions;
#   - eval over one whole contig (chr21, 46.7 Mb at full size), streamed;
#   embed and eval use hyenadna-demo weights (d 64, 2 layers), so that the
#   time goes to the input path rather than to a large model.
# usage: bench/genome_scale.sh BUILD_DIR [WORK_DIR]
# GENOME_SCALE_BP (default 3088286401) sets the large genome's size;
# GENOME_SCALE_SKIP_EVAL=1 leaves out the whole-contig eval (minutes).
set -eu
build=${1:-build}
work=${2:-$build/genome_scale}
bin=$build/derfseq
big=${GENOME_SCALE_BP:-3088286401}
mkdir -p "$work"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
command -v bgzip >/dev/null || { echo "genome_scale: needs bgzip (apt-get install tabix)"; exit 1; }
[ -x /usr/bin/time ] || { echo "genome_scale: needs GNU time (apt-get install time)"; exit 1; }

# measure LABEL CMD...: "LABEL  wall_s  peak_RSS_MB" from GNU time
measure() {
    label=$1; shift
    /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" >"$work/out.txt" 2>"$work/err.txt" ||
        { echo "genome_scale: $label failed:"; cat "$work/err.txt"; exit 1; }
    read -r s kb <"$work/time.txt"
    printf '%-44s %9.2f s %8.1f MB\n' "$label" "$s" "$(echo "$kb" | awk '{ print $1 / 1024 }')"
}

make_one() {   # make_one NAME TOTAL_BP
    fa=$work/$1.fa.gz
    if [ ! -s "$fa" ] || [ ! -s "$fa.gzi" ]; then
        t0=$(date +%s)
        "$build/bench/make_genome" "$2" | bgzip -@ "$OMP_NUM_THREADS" -l 1 -i -I "$fa.gzi" -c >"$fa.tmp"
        mv "$fa.tmp" "$fa"
        rm -f "$fa.fai"
        echo "[genome_scale] $1: $2 bp written and bgzipped in $(( $(date +%s) - t0 )) s ($(du -h "$fa" | cut -f1))"
    fi
}

regions() {   # regions FAI N OUT: N random 200 bp regions, weighted by contig length
    awk -v n="$2" 'BEGIN { srand(7) } { name[NR] = $1; len[NR] = $2; tot += $2 }
        END { for (i = 0; i < n; i++) { x = rand() * tot; for (c = 1; x >= len[c]; c++) x -= len[c];
              b = int(x); if (b > len[c] - 200) b = len[c] - 200; printf "%s\t%d\t%d\n", name[c], b, b + 200 } }' "$1" >"$3"
}

bench_one() {   # bench_one NAME
    fa=$work/$1.fa.gz
    echo "== $1: $(awk '{ s += $2 } END { printf "%.1f Mbp, %d contigs", s / 1e6, NR }' "$fa.fai" 2>/dev/null || echo "?")"
    rm -rf "$work/$1.run"
    measure "pretrain hyenadna-tiny-1k, start to step 1" "$bin" pretrain --model hyenadna-tiny-1k --steps 1 \
        --batch-size 8 --seq-len 1024 --eval-windows 8 -q -o "$work/$1.run" "$fa"
    # embed and eval with the small demo model, so the whole contig takes minutes
    rm -rf "$work/$1.demo"
    "$bin" pretrain --model hyenadna-demo --steps 1 --batch-size 2 --seq-len 512 --eval-windows 2 -q -o "$work/$1.demo" "$fa"
    ckpt=$work/$1.demo/last.safetensors
    for n in 1000 100000; do
        regions "$fa.fai" $n "$work/$1.$n.bed"
        measure "embed --ref, $n regions of 200 bp" "$bin" embed --from "$ckpt" --ref "$fa" --regions "$work/$1.$n.bed" -o -
    done
    if [ "${GENOME_SCALE_SKIP_EVAL:-0}" != 1 ]; then
        awk '$1 == "chr21" { printf "%s\t0\t%d\n", $1, $2 }' "$fa.fai" >"$work/$1.chr21.bed"
        measure "eval, all of chr21 ($(awk '{ printf "%.1f Mb", $3 / 1e6 }' "$work/$1.chr21.bed"))" \
            "$bin" eval --from "$ckpt" --ref "$fa" --regions "$work/$1.chr21.bed" --batch-size 16
        grep -E "windows|loss" "$work/out.txt" | head -3
    fi
}

make_one small 5000000
make_one big "$big"
for g in small big; do
    fa=$work/$g.fa.gz
    if [ ! -s "$fa.fai" ]; then   # derfseq builds the .fai on first open
        measure "$g: .fai build (once, on first open)" "$bin" embed --from testdata/caduceus_tiny_ps.safetensors --ref "$fa" chrM:1-100 -o -
    fi
done
for g in small big; do bench_one $g; done
