@echo off
REM Stage 2 (resampler): caption loss; starts from %RUN_DIR%\vision\model_final (run stage 1 first).
setlocal
call "%~dp0config.bat"
if not exist "%RUN_DIR%\vision\model_final\config.json" (
    echo stage 2 needs the stage-1 model in %RUN_DIR%\vision\model_final; run stage1_vision_train.bat first 1>&2
    exit /b 1
)
set "STAGE_ARGS="
if defined RESAMPLER_EPOCHS set "STAGE_ARGS=%STAGE_ARGS% --epochs %RESAMPLER_EPOCHS%"
if defined RESAMPLER_BATCH_SIZE set "STAGE_ARGS=%STAGE_ARGS% --batch-size %RESAMPLER_BATCH_SIZE%"
%PANOVLM% train %TRAIN_ARGS% --stage resampler %STAGE_ARGS% %* > "%LOG_DIR%\stage2_resampler_%TIMESTAMP%.log" 2>&1
set "RC=%ERRORLEVEL%"
type "%LOG_DIR%\stage2_resampler_%TIMESTAMP%.log"
if not "%RC%"=="0" pause
exit /b %RC%
