@echo off
REM Evaluate the resampler and finetune models and the finetune model without images (blind), then
REM compare them: eval_compare.bat [CSV]. compare.csv + compare.png in %EVAL_OUTPUT_DIR%\compare.
setlocal
call "%~dp0config.bat"
set "CSV=%~1"
if "%CSV%"=="" set "CSV=data\quic360\test.csv"
if not defined EVAL_OUTPUT_DIR set "EVAL_OUTPUT_DIR=eval_results"
call "%~dp0eval_resampler.bat" "%CSV%" || exit /b 1
call "%~dp0eval_finetune.bat" "%CSV%" || exit /b 1
set "EVAL_SUFFIX=_blind"
call "%~dp0eval_finetune.bat" "%CSV%" --blind || exit /b 1
%PANOVLM% compare "%EVAL_OUTPUT_DIR%\resampler" "%EVAL_OUTPUT_DIR%\finetune" "%EVAL_OUTPUT_DIR%\finetune_blind" --out "%EVAL_OUTPUT_DIR%\compare"
exit /b %ERRORLEVEL%
