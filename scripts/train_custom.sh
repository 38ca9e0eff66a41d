#!/usr/bin/env bash
# Custom training: ./scripts/train_custom.sh --stage vision --epochs 5 --batch-size 16
set -euo pipefail
source "$(dirname "$0")/config.sh"

usage() {
    cat <<USAGE
Usage: $0 [options]
  -s, --stage STAGE        vision | resampler | finetune | all (default: all)
  -e, --epochs N           epochs of every trained stage (default: from the config)
  -b, --batch-size N       batch size of every trained stage (default: from the config)
  -l, --lr X               learning rate of every trained stage (default: from the config)
  -d, --data-dir DIR       folder holding train.csv and val.csv (default: from the config)
  -w, --num-workers N      data-loader workers (default: from the config)
  -c, --config FILE        run config (default: $CONFIG)
  -o, --out DIR            run directory (default: $RUN_DIR)
  -r, --resume [CKPT]      alone: continue the stopped run in the run directory; with a checkpoint
                           file: continue it (the stage's own) or start the stage from its weights
  -h, --help               this help
Any other argument is passed to 'panovlm train' (e.g. --set stages.vision.lr=1e-4).
USAGE
}

STAGE=all; EXTRA=()
while [ $# -gt 0 ]; do
    case "$1" in
        -s|--stage) STAGE=$2; shift 2 ;;
        -e|--epochs) EXTRA+=(--epochs "$2"); shift 2 ;;
        -b|--batch-size) EXTRA+=(--batch-size "$2"); shift 2 ;;
        -l|--lr) EXTRA+=(--lr "$2"); shift 2 ;;
        -d|--data-dir) DATA_DIR=$2; shift 2 ;;
        -w|--num-workers|--workers) NUM_WORKERS=$2; shift 2 ;;
        -c|--config) CONFIG=$2; shift 2 ;;
        -o|--out) RUN_DIR=$2; shift 2 ;;
        -r|--resume)
            if [ $# -gt 1 ] && [ "${2#-}" = "$2" ]; then EXTRA+=(--resume "$2"); shift 2
            else EXTRA+=(--resume); shift; fi ;;
        -h|--help) usage; exit 0 ;;
        *) EXTRA+=("$1"); shift ;;
    esac
done
case "$STAGE" in vision|resampler|finetune|all) ;; *) echo "unknown stage '$STAGE'" >&2; usage >&2; exit 2 ;; esac
if [ -n "$DATA_DIR" ] && [ ! -d "$DATA_DIR" ]; then echo "data dir '$DATA_DIR' does not exist" >&2; exit 2; fi
setup_directories
LOG="$LOG_DIR/${STAGE}_$(generate_timestamp).log"
print_config | tee "$LOG"
panovlm_train "$STAGE" "${EXTRA[@]}" 2>&1 | tee -a "$LOG"
