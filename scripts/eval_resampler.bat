@echo off
REM Evaluate the stage-2 (resampler) model: eval_resampler.bat [CSV] [extra "panovlm eval" args...]
setlocal
set "STAGE=resampler"
call "%~dp0eval_finetune.bat" %*
exit /b %ERRORLEVEL%
