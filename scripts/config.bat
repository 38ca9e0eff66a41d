@echo off
REM Shared settings of the Windows training scripts (seed doc 004), the twin of config.sh.
REM Every value can be set in the environment first; empty per-stage values mean "use the run config".
REM Paths may use backslashes (runs\vlm_resampler\...): the panovlm CLI reads both separators.
if not defined PANOVLM set "PANOVLM=panovlm"
if not defined CONFIG set "CONFIG=configs\default.yaml"
if not defined RUNS_DIR set "RUNS_DIR=runs"
if not defined RUN_NAME set "RUN_NAME=panovlm"
if not defined RUN_DIR set "RUN_DIR=%RUNS_DIR%\%RUN_NAME%"
if not defined LOG_DIR set "LOG_DIR=logs"
for /f %%i in ('powershell -NoProfile -Command "Get-Date -Format yyyyMMdd_HHmmss"') do set "TIMESTAMP=%%i"
if not exist "%RUNS_DIR%" mkdir "%RUNS_DIR%"
if not exist "%LOG_DIR%" mkdir "%LOG_DIR%"
REM The options config.sh's panovlm_train adds: run config, run dir, data dir, workers, W&B project.
set "TRAIN_ARGS=--config "%CONFIG%" --out "%RUN_DIR%""
if defined DATA_DIR set "TRAIN_ARGS=%TRAIN_ARGS% --data-dir "%DATA_DIR%""
if defined NUM_WORKERS set "TRAIN_ARGS=%TRAIN_ARGS% --num-workers %NUM_WORKERS%"
if defined WANDB_PROJECT set "TRAIN_ARGS=%TRAIN_ARGS% --set logging.wandb_project=%WANDB_PROJECT%"
echo config:      %CONFIG%
echo data dir:    %DATA_DIR%
echo run dir:     %RUN_DIR%
echo log dir:     %LOG_DIR%
