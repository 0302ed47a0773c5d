#!/usr/bin/env bash
# make demo: shows what this version of derfseq really does. It will run a
# small HyenaDNA job on testdata/ once that model is built (README "Status").
set -euo pipefail
bin=${1:-build/derfseq}
cd "$(dirname "$0")/.."

echo "\$ derfseq --version"
"$bin" --version
echo
echo "\$ derfseq help"
"$bin" help
echo
echo "The model demos (pretrain, finetune, eval and embed on testdata/) arrive"
echo "with the HyenaDNA model; today only 'derfseq info CKPT' does real work."
echo "See README.md, 'Status'."
