@echo off
REM Evaluate the stage-3 (finetune) model: eval_finetune.bat [CSV] [extra "panovlm eval" args...]
REM Model: %RUN_DIR%\finetune\model_final. Output: %EVAL_OUTPUT_DIR%\finetune. A missing CSV / model is one line.
setlocal
call "%~dp0config.bat"
if not defined STAGE set "STAGE=finetune"
if not defined EVAL_OUTPUT_DIR set "EVAL_OUTPUT_DIR=eval_results"
if not defined EVAL_BATCH_SIZE set "EVAL_BATCH_SIZE=8"
if not defined MAX_NEW_TOKENS set "MAX_NEW_TOKENS=64"
set "CSV=%~1"
if "%CSV%"=="" set "CSV=data\quic360\test.csv"
set "REST="
shift
:rest
if "%~1"=="" goto run
set "REST=%REST% %1"
shift
goto rest
:run
%PANOVLM% eval --model "%RUN_DIR%\%STAGE%\model_final" --csv "%CSV%" --out "%EVAL_OUTPUT_DIR%\%STAGE%%EVAL_SUFFIX%" --batch-size %EVAL_BATCH_SIZE% --max-new-tokens %MAX_NEW_TOKENS% %REST%
exit /b %ERRORLEVEL%
