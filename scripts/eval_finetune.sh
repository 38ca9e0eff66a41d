#!/usr/bin/env bash
# Evaluate the stage-3 (finetune) model: eval_finetune.sh [CSV] [extra `panovlm eval` args...]
# Model: $RUN_DIR/finetune/model_final. Output: $EVAL_OUTPUT_DIR/finetune (predictions.csv, metrics.json).
set -euo pipefail
source "$(dirname "$0")/config.sh"
STAGE=${STAGE:-finetune}
CSV=${1:-data/quic360/test.csv}; shift $(( $# > 0 ? 1 : 0 ))
MODEL="$RUN_DIR/$STAGE/model_final"
OUT="${EVAL_OUTPUT_DIR:-eval_results}/$STAGE${EVAL_SUFFIX:-}"
if [ ! -f "$MODEL/config.json" ]; then
    echo "no $STAGE model in $MODEL; train it first (or set RUN_DIR)" >&2
    exit 1
fi
$PANOVLM eval --model "$MODEL" --csv "$CSV" --out "$OUT" \
    --batch-size "${EVAL_BATCH_SIZE:-8}" --max-new-tokens "${MAX_NEW_TOKENS:-64}" "$@"
