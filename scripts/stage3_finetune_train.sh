#!/usr/bin/env bash
# Stage 3 (finetune): caption loss with the LM (LoRA or full); starts from $RUN_DIR/resampler/model_final.
set -euo pipefail
source "$(dirname "$0")/config.sh"
setup_directories
if [ ! -f "$RUN_DIR/resampler/model_final/config.json" ]; then
    echo "stage 3 needs the stage-2 model in $RUN_DIR/resampler/model_final; run stage2_resampler_train.sh first" >&2
    exit 1
fi
LOG="$LOG_DIR/stage3_finetune_$(generate_timestamp).log"
print_config | tee "$LOG"
panovlm_train finetune "$@" 2>&1 | tee -a "$LOG"
