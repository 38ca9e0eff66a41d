#!/usr/bin/env bash
# Evaluate the resampler and finetune models and the finetune model without images (blind), then
# compare them: eval_compare.sh [CSV]. Table printed; compare.csv + compare.png in $EVAL_OUTPUT_DIR/compare.
set -euo pipefail
HERE="$(dirname "$0")"
source "$HERE/config.sh"
CSV=${1:-data/quic360/test.csv}
EVAL_DIR="${EVAL_OUTPUT_DIR:-eval_results}"
"$HERE/eval_resampler.sh" "$CSV"
"$HERE/eval_finetune.sh" "$CSV"
EVAL_SUFFIX=_blind "$HERE/eval_finetune.sh" "$CSV" --blind
$PANOVLM compare "$EVAL_DIR/resampler" "$EVAL_DIR/finetune" "$EVAL_DIR/finetune_blind" --out "$EVAL_DIR/compare"
