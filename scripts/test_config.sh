#!/usr/bin/env bash
# Check that config.sh loads, that overrides work, and that the run config resolves (no training).
set -euo pipefail
source "$(dirname "$0")/config.sh"
print_config
override_config workers 2
[ "$NUM_WORKERS" = "2" ] || { echo "override_config workers failed" >&2; exit 1; }
override_config config "${TEST_CONFIG:-configs/tiny.yaml}"
if override_config no_such_setting x 2>/dev/null; then echo "unknown override accepted" >&2; exit 1; fi
$PANOVLM train --config "$CONFIG" --out "${TMPDIR:-/tmp}/panovlm_test_config" --num-workers "$NUM_WORKERS" \
    --print-config > /dev/null
echo "config OK: $CONFIG resolves"
