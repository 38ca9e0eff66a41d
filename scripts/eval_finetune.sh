#!/usr/bin/env bash
# Evaluate the stage-3 (finetune) model: eval_finetune.sh [CSV] [extra `panovlm eval` args...]
# Model: $RUN_DIR/finetune/model_final. Output: $EVAL_OUTPUT_DIR/finetune (predictions.csv, metrics.json).
# A missing CSV or model folder is one line from the CLI.
set -euo pipefail
source "$(dirname "$0")/config.sh"
STAGE=${STAGE:-finetune}
CSV=${1:-data/quic360/test.csv}; shift $(( $# > 0 ? 1 : 0 ))
MODEL="$RUN_DIR/$STAGE/model_final"
OUT="${EVAL_OUTPUT_DIR:-eval_results}/$STAGE${EVAL_SUFFIX:-}"
$PANOVLM eval --model "$MODEL" --csv "$CSV" --out "$OUT" \
    --batch-size "${EVAL_BATCH_SIZE:-8}" --max-new-tokens "${MAX_NEW_TOKENS:-64}" "$@"
