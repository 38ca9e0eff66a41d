#!/usr/bin/env bash
# Stage 2 (resampler): caption loss; starts from $RUN_DIR/vision/model_final (run stage 1 first).
set -euo pipefail
source "$(dirname "$0")/config.sh"
setup_directories
if [ ! -f "$RUN_DIR/vision/model_final/config.json" ]; then
    echo "stage 2 needs the stage-1 model in $RUN_DIR/vision/model_final; run stage1_vision_train.sh first" >&2
    exit 1
fi
LOG="$LOG_DIR/stage2_resampler_$(generate_timestamp).log"
print_config | tee "$LOG"
panovlm_train resampler "$@" 2>&1 | tee -a "$LOG"
