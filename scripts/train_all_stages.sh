#!/usr/bin/env bash
# All three stages in one run (state file in $RUN_DIR/state.json; rerun with --resume after a stop).
set -euo pipefail
source "$(dirname "$0")/config.sh"
setup_directories
LOG="$LOG_DIR/full_pipeline_$(generate_timestamp).log"
print_config | tee "$LOG"
panovlm_train all "$@" 2>&1 | tee -a "$LOG"
