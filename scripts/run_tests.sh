#!/usr/bin/env bash
# The project's test command (README): offline, no slow tests.
set -euo pipefail
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec python -m pytest -m "not slow" "$@"
