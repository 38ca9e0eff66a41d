#!/usr/bin/env bash
# Evaluate the stage-2 (resampler) model: eval_resampler.sh [CSV] [extra `panovlm eval` args...]
# Model: $RUN_DIR/resampler/model_final. Output: $EVAL_OUTPUT_DIR/resampler.
set -euo pipefail
STAGE=resampler exec "$(dirname "$0")/eval_finetune.sh" "$@"
