@echo off
REM Stage 1 (vision): overlap (VICReg) loss on the resampler tokens of overlapping views.
setlocal
call "%~dp0config.bat"
set "STAGE_ARGS="
if defined VISION_EPOCHS set "STAGE_ARGS=%STAGE_ARGS% --epochs %VISION_EPOCHS%"
if defined VISION_BATCH_SIZE set "STAGE_ARGS=%STAGE_ARGS% --batch-size %VISION_BATCH_SIZE%"
%PANOVLM% train %TRAIN_ARGS% --stage vision %STAGE_ARGS% %* > "%LOG_DIR%\stage1_vision_%TIMESTAMP%.log" 2>&1
set "RC=%ERRORLEVEL%"
type "%LOG_DIR%\stage1_vision_%TIMESTAMP%.log"
if not "%RC%"=="0" pause
exit /b %RC%
