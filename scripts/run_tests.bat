@echo off
REM The project's test command (README): offline, no slow tests.
setlocal
set "HF_HUB_OFFLINE=1"
set "TRANSFORMERS_OFFLINE=1"
python -m pytest -m "not slow" %*
exit /b %ERRORLEVEL%
