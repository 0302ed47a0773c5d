#!/usr/bin/env bash
# make demo: a real small job on testdata/ — pretrain a Derf HyenaDNA on the
# lambda phage genome for about half a minute (the whole demo takes about a minute on 2 cores), evaluate it on the held-out
# tail, embed the regions of a BED file, then fine-tune it on the bundled
# GenomicBenchmarks-style task and report its test metrics; then the same
# genome for a Derf Caduceus-PS (masked LM), its held-out masked accuracy,
# and embeddings that are the same for a region and its reverse complement;
# then a Derf pre-LN wav2vec2-demo pretrained on the bundled real speech,
# its held-out contrastive loss and per-utterance embeddings, and that
# encoder fine-tuned with CTC into a recogniser whose transcripts and
# WER/CER eval prints.
set -euo pipefail
bin=${1:-build/derfseq}
cd "$(dirname "$0")/.."
run=build/demo-run
rm -rf "$run"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

say() { printf '\n$ %s\n' "$*"; }

say derfseq pretrain --model hyenadna-demo --norm derf testdata/lambda_virus.fa.gz -o $run --steps 800 ...
"$bin" pretrain --model hyenadna-demo --norm derf testdata/lambda_virus.fa.gz -o "$run" \
    --steps 800 --batch-size 8 --seq-len 256 --lr 2e-3 --eval-every 200 --save-every 400 --eval-windows 64

first=$(head -1 "$run/log.jsonl" | sed 's/.*"loss":\([0-9.]*\).*/\1/')
last=$(grep '"loss"' "$run/log.jsonl" | tail -1 | sed 's/.*"loss":\([0-9.]*\).*/\1/')
printf 'training loss: first step %.3f, last step %.3f nats/token\n' "$first" "$last"

say derfseq eval --from $run/best.safetensors --seq-len 256 testdata/lambda_virus.fa.gz
"$bin" eval --from "$run/best.safetensors" --seq-len 256 --quiet testdata/lambda_virus.fa.gz

say "derfseq embed --from $run/best.safetensors --ref testdata/lambda_virus.fa.gz --regions testdata/lambda_regions.bed | cut -f1-6"
"$bin" embed --from "$run/best.safetensors" --ref testdata/lambda_virus.fa.gz \
    --regions testdata/lambda_regions.bed --quiet | cut -f1-6

ft=build/demo-finetune
rm -rf "$ft"
say derfseq finetune --from $run/best.safetensors --task gb testdata/gb_lambda/tree -o $ft ...
"$bin" finetune --from "$run/best.safetensors" --task gb testdata/gb_lambda/tree -o "$ft" \
    --epochs 10 --batch-size 16 --lr 3e-3 --val-fraction 0.2 --patience 10

say derfseq eval --from $ft/best.safetensors testdata/gb_lambda/tree
"$bin" eval --from "$ft/best.safetensors" --quiet testdata/gb_lambda/tree

echo "(A model of base composition alone scores 2.00 bits/base on this held-out tail;"
echo " the Derf trunk is below it thanks to --init-embed-std 0.3, the default: with the"
echo " official 0.02 it stays at 1.99 and its fine-tune at chance. 'make compare' runs"
echo " Derf, DyT, LayerNorm and RMSNorm side by side; bench/README.md has the figures.)"

say derfseq info $run/best.safetensors "| sed '/^config:/q'"
"$bin" info --quiet "$run/best.safetensors" | sed '/^config:/q'
echo
echo "The run directory $run holds config.json, state.safetensors (resumable with"
echo "'derfseq pretrain --resume $run'), last/best.safetensors and log.jsonl."

cad=build/demo-caduceus
rm -rf "$cad"
say derfseq pretrain --model caduceus-demo --norm derf testdata/lambda_virus.fa.gz -o $cad --steps 80 ...
"$bin" pretrain --model caduceus-demo --norm derf testdata/lambda_virus.fa.gz -o "$cad" \
    --steps 80 --batch-size 4 --seq-len 128 --lr 3e-3 --eval-every 40 --eval-windows 32

say derfseq eval --from $cad/best.safetensors --seq-len 128 testdata/lambda_virus.fa.gz
"$bin" eval --from "$cad/best.safetensors" --seq-len 128 --max-windows 32 --quiet testdata/lambda_virus.fa.gz

say "derfseq embed --from $cad/best.safetensors (a region, then its reverse complement) | cut -f1-5"
"$bin" embed --from "$cad/best.safetensors" --ref testdata/lambda_virus.fa.gz --quiet \
    NC_001416.1:1001-1300 | cut -f1-5
printf ">NC_001416.1:1001-1300(rc)\n%s\n" "$( \
    awk 'NR > 1' testdata/lambda_virus.fa | tr -d '\n' | cut -c1001-1300 | rev | tr ACGTacgt TGCAtgca)" | \
    "$bin" embed --from "$cad/best.safetensors" --quiet - | cut -f1-5
echo "(Caduceus-PS is reverse-complement equivariant: both rows agree to float rounding.)"

w2v=build/demo-wav2vec2
rm -rf "$w2v"
say derfseq pretrain --model wav2vec2-demo testdata/speech -o $w2v --steps 300 ...
"$bin" pretrain --model wav2vec2-demo testdata/speech -o "$w2v" --steps 300 --min-samples 16000 --crop 32000 \
    --max-tokens 64000 --lr 2e-3 --warmup 20 --eval-every 100 --valid testdata/speech/LibriSpeech-mini
part() { grep '"contrastive"' "$w2v/log.jsonl" | sed -n "$1p" | sed 's/.*"contrastive":\([0-9.]*\).*"accuracy":\([0-9.]*\).*/\1 \2/' |
         { read -r c a; printf 'contrastive %.3f, accuracy %.3f' "$c" "$a"; }; }
echo "training: step 1 $(part 1); step 300 $(part 300)"
echo "(chance among the 20 negatives: contrastive ln 21 = 3.04, accuracy 1/21 = 0.048)"

say derfseq eval --from $w2v/best.safetensors testdata/speech/LibriSpeech-mini
"$bin" eval --from "$w2v/best.safetensors" --quiet testdata/speech/LibriSpeech-mini

say "derfseq embed --from $w2v/best.safetensors testdata/speech/LibriSpeech-mini | cut -f1-5"
"$bin" embed --from "$w2v/best.safetensors" --quiet testdata/speech/LibriSpeech-mini | cut -f1-5
echo "(Real speech from Debian's alsa-utils, testdata/README.md; a LibriSpeech-shaped tree gives one"
echo " row per utterance id. The --valid tree is part of the training audio here: the demo shows the"
echo " objective learning, not generalisation; wav2vec2-tiny and -base are the sizes for real data.)"

ctc=build/demo-ctc
rm -rf "$ctc"
say derfseq finetune --task ctc --from $w2v/best.safetensors testdata/speech/LibriSpeech-mini -o $ctc --steps 1200 ...
"$bin" finetune --task ctc --from "$w2v/best.safetensors" testdata/speech/LibriSpeech-mini -o "$ctc" --steps 1200 \
    --lr 3e-3 --schedule constant --warmup 50 --mask-prob 0 --mask-channel-prob 0 --layerdrop 0 \
    --valid testdata/speech/LibriSpeech-mini --eval-every 400

say derfseq eval --from $ctc/best.safetensors testdata/speech/LibriSpeech-mini --predictions -
"$bin" eval --from "$ctc/best.safetensors" --quiet testdata/speech/LibriSpeech-mini --predictions -
say derfseq eval --from $ctc/best.safetensors testdata/speech/LibriSpeech-mini
"$bin" eval --from "$ctc/best.safetensors" --quiet testdata/speech/LibriSpeech-mini | grep -E 'wer|cer|loss'
echo "(A CTC head over the pretrained encoder, its conv feature encoder frozen, learns the three"
echo " utterances it is shown; masking is off so that it can in 1200 steps. The real recipe keeps"
echo " fairseq's masks: see man derfseq-finetune, SPEECH RECOGNITION.)"
