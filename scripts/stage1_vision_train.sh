#!/usr/bin/env bash
# Stage 1 (vision): overlap (VICReg) loss on the resampler tokens of overlapping views.
set -euo pipefail
source "$(dirname "$0")/config.sh"
setup_directories
LOG="$LOG_DIR/stage1_vision_$(generate_timestamp).log"
print_config | tee "$LOG"
panovlm_train vision "$@" 2>&1 | tee -a "$LOG"
