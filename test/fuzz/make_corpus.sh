#!/bin/sh
# Seeds the libFuzzer corpora (make fuzz): OUT/<name>/ gets the hand-written
# seeds of test/fuzz/seeds/<name>/ plus inputs derived from testdata/ in the
# shape each harness expects (test/fuzz/fuzz_<name>.c says which). Files
# libFuzzer added in earlier runs stay.
set -eu
out=${1:?usage: make_corpus.sh OUTDIR}
td=testdata
for n in fasta faidx regions gb safetensors npy config speech; do
    mkdir -p "$out/$n"
    [ -d "test/fuzz/seeds/$n" ] && cp test/fuzz/seeds/$n/* "$out/$n/"
done

# FASTA/FASTQ stream: the files as they are
for f in $td/*.fa $td/*.fq $td/lambda_virus.fa.gz $td/bad/*.fa $td/bad/*.fq; do cp "$f" "$out/fasta/td_$(basename "$f")"; done

# faidx: FASTA only (index built), and the small bad FASTAs
for f in $td/bad/*.fa; do cp "$f" "$out/faidx/td_$(basename "$f")"; done
{ head -c 2000 $td/lambda_virus.fa; printf '\n##fai\n'; cat $td/lambda_virus.fa.fai; } > "$out/faidx/td_lambda_head_fai"

# regions: a region string line, then a BED file
for f in $td/*.bed $td/bad/*.bed; do
    { printf 'NC_001416.1:1,001-2,000\n'; cat "$f"; } > "$out/regions/td_$(basename "$f")"
done

# GenomicBenchmarks: mode byte, then the data (see fuzz_gb.c)
g=$td/gb_lambda
{ printf '\000'; head -n 20 $g/table/train.csv; } > "$out/gb/td_table_csv"
{ printf '\004'; head -n 20 $g/table/test.csv; } > "$out/gb/td_table_csv_fixed"
{ printf '\001'; head -n 20 $g/table/train.csv | tr , '\t'; } > "$out/gb/td_table_tsv"
{ printf '\002'; zcat $g/coords/train/left_arm.csv.gz | head -n 10; printf '\n##class\n';
  zcat $g/coords/train/right_arm.csv.gz | head -n 10; } > "$out/gb/td_coords"
{ printf '\016'; zcat $g/coords/test/left_arm.csv.gz | head -n 10; printf '\n##class\n';
  zcat $g/coords/test/right_arm.csv.gz | head -n 10; } > "$out/gb/td_coords_fixed_auto"
{ printf '\003'; cat $g/tree/train/left_arm/left_arm_0.txt; printf '\n##file\n';
  cat $g/tree/train/right_arm/right_arm_0.txt; } > "$out/gb/td_tree"

# faidx: a small bgzip FASTA with its .fai and .gzi (one block: no entries)
if command -v bgzip >/dev/null; then
    { printf '>a desc\nACGTACGTAC\nACGTACGTAC\nACG\n>b\nNNNN\n' | bgzip -c; printf '\n##fai\n';
      printf 'a\t23\t8\t10\t11\nb\t4\t37\t4\t5\n'; printf '\n##gzi\n'; printf '\000\000\000\000\000\000\000\000'; } \
        > "$out/faidx/td_bgzip_fai_gzi"
fi

# config: the model config stored in the golden checkpoints' metadata
if command -v python3 >/dev/null; then
    for f in $td/golden/hyenadna_*.safetensors; do
        python3 -c 'import json, struct, sys
b = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", b[:8])[0]
sys.stdout.write(json.loads(b[8:8 + n])["__metadata__"]["derfseq.config"])' "$f" > "$out/config/td_$(basename "$f" .safetensors)"
    done
fi

# speech: mode byte, then the data (see fuzz_speech.c)
t=$td/speech/LibriSpeech-mini/9001/1
{ printf '\000'; printf 'a.flac\t22849\n'; } > "$out/speech/td_manifest"
{ printf '\004'; printf 'path\ttranscript\r\n\na.flac\tFRONT CENTER'; } > "$out/speech/td_transcript_tsv"
{ printf '\001'; cat $t/9001-1.trans.txt; } > "$out/speech/td_trans"
{ printf '\002'; cat $t/9001-1-0001.flac; } > "$out/speech/td_flac"
{ printf '\003'; printf 'a.flac\n'; } > "$out/speech/td_list"
