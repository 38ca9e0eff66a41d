@echo off
REM Stage 3 (finetune): caption loss with the LM (LoRA or full); starts from %RUN_DIR%\resampler\model_final.
setlocal
call "%~dp0config.bat"
if not exist "%RUN_DIR%\resampler\model_final\config.json" (
    echo stage 3 needs the stage-2 model in %RUN_DIR%\resampler\model_final; run stage2_resampler_train.bat first 1>&2
    exit /b 1
)
set "STAGE_ARGS="
if defined FINETUNE_EPOCHS set "STAGE_ARGS=%STAGE_ARGS% --epochs %FINETUNE_EPOCHS%"
if defined FINETUNE_BATCH_SIZE set "STAGE_ARGS=%STAGE_ARGS% --batch-size %FINETUNE_BATCH_SIZE%"
%PANOVLM% train %TRAIN_ARGS% --stage finetune %STAGE_ARGS% %* > "%LOG_DIR%\stage3_finetune_%TIMESTAMP%.log" 2>&1
set "RC=%ERRORLEVEL%"
type "%LOG_DIR%\stage3_finetune_%TIMESTAMP%.log"
if not "%RC%"=="0" pause
exit /b %RC%
