@echo off
REM Check that config.bat loads and that the run config resolves (no training).
setlocal
call "%~dp0config.bat"
if not defined TEST_CONFIG set "TEST_CONFIG=configs\tiny.yaml"
set "CONFIG=%TEST_CONFIG%"
%PANOVLM% train --config "%CONFIG%" --out "%TEMP%\panovlm_test_config" --num-workers 2 --print-config > nul
if errorlevel 1 (
    echo config check failed: %CONFIG% 1>&2
    exit /b 1
)
echo config OK: %CONFIG% resolves
