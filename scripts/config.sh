#!/usr/bin/env bash
# Shared settings of the training scripts (seed doc 004). Source it: `source scripts/config.sh`.
# Every value can be set in the environment first; empty per-stage values mean "use the run config".
# No API keys here: log in to W&B with `wandb login` and set WANDB_PROJECT to turn it on.

PANOVLM=${PANOVLM:-panovlm}                              # the CLI (or "python -m panovlm.cli")
CONFIG=${CONFIG:-configs/default.yaml}                   # run config (configs/tiny.yaml: CPU preset)
DATA_DIR=${DATA_DIR:-}                                   # folder with train.csv / val.csv (empty: config's)
NUM_WORKERS=${NUM_WORKERS:-}
RUNS_DIR=${RUNS_DIR:-runs}
RUN_NAME=${RUN_NAME:-panovlm}
RUN_DIR=${RUN_DIR:-${RUNS_DIR}/${RUN_NAME}}
LOG_DIR=${LOG_DIR:-logs}
WANDB_PROJECT=${WANDB_PROJECT:-}
VISION_EPOCHS=${VISION_EPOCHS:-};       VISION_BATCH_SIZE=${VISION_BATCH_SIZE:-}
RESAMPLER_EPOCHS=${RESAMPLER_EPOCHS:-}; RESAMPLER_BATCH_SIZE=${RESAMPLER_BATCH_SIZE:-}
FINETUNE_EPOCHS=${FINETUNE_EPOCHS:-};   FINETUNE_BATCH_SIZE=${FINETUNE_BATCH_SIZE:-}

generate_timestamp() { date +%Y%m%d_%H%M%S; }

setup_directories() { mkdir -p "$RUNS_DIR" "$LOG_DIR"; }

print_config() {
    echo "config:      $CONFIG"
    echo "data dir:    ${DATA_DIR:-<from config>}"
    echo "workers:     ${NUM_WORKERS:-<from config>}"
    echo "run dir:     $RUN_DIR"
    echo "log dir:     $LOG_DIR"
    echo "wandb:       ${WANDB_PROJECT:-off}"
}

# override_config NAME VALUE: change one setting for this shell (config, data_dir, workers, run_dir, wandb_project).
override_config() {
    case "$1" in
        config) CONFIG=$2 ;;
        data_dir|data-dir) DATA_DIR=$2 ;;
        workers|num_workers) NUM_WORKERS=$2 ;;
        run_dir|run-dir) RUN_DIR=$2 ;;
        wandb_project|wandb-project) WANDB_PROJECT=$2 ;;
        *) echo "override_config: unknown setting '$1' (config, data_dir, workers, run_dir, wandb_project)" >&2
           return 1 ;;
    esac
}

# panovlm_train STAGE [extra CLI args...]: run one stage (or all) of the CLI with the settings above.
panovlm_train() {
    local stage=$1; shift
    local upper; upper=$(echo "$stage" | tr '[:lower:]' '[:upper:]')
    local epochs_var="${upper}_EPOCHS" batch_var="${upper}_BATCH_SIZE"
    local args=(train --config "$CONFIG" --stage "$stage" --out "$RUN_DIR")
    [ -n "$DATA_DIR" ] && args+=(--data-dir "$DATA_DIR")
    [ -n "$NUM_WORKERS" ] && args+=(--num-workers "$NUM_WORKERS")
    [ -n "${!epochs_var:-}" ] && args+=(--epochs "${!epochs_var}")
    [ -n "${!batch_var:-}" ] && args+=(--batch-size "${!batch_var}")
    [ -n "$WANDB_PROJECT" ] && args+=(--set "logging.wandb_project=$WANDB_PROJECT")
    # shellcheck disable=SC2086
    $PANOVLM "${args[@]}" "$@"
}
