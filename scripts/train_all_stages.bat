@echo off
REM All three stages in one run (state file in %RUN_DIR%\state.json; rerun with --resume after a stop).
setlocal
call "%~dp0config.bat"
REM As config.sh's panovlm_train for stage "all": ALL_EPOCHS / ALL_BATCH_SIZE apply to every stage.
set "STAGE_ARGS="
if defined ALL_EPOCHS set "STAGE_ARGS=%STAGE_ARGS% --epochs %ALL_EPOCHS%"
if defined ALL_BATCH_SIZE set "STAGE_ARGS=%STAGE_ARGS% --batch-size %ALL_BATCH_SIZE%"
%PANOVLM% train %TRAIN_ARGS% --stage all %STAGE_ARGS% %* > "%LOG_DIR%\full_pipeline_%TIMESTAMP%.log" 2>&1
set "RC=%ERRORLEVEL%"
type "%LOG_DIR%\full_pipeline_%TIMESTAMP%.log"
if not "%RC%"=="0" pause
exit /b %RC%
