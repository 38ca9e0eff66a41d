@echo off
REM Custom training: scripts\train_custom.bat --stage vision --epochs 5 --batch-size 16
REM The options of train_custom.sh; any other argument is passed to "panovlm train".
setlocal
set "STAGE=all"
set "EXTRA="
:parse
if "%~1"=="" goto run
if "%~1"=="-h" goto usage
if "%~1"=="--help" goto usage
if "%~1"=="-s" (set "STAGE=%~2" & shift & shift & goto parse)
if "%~1"=="--stage" (set "STAGE=%~2" & shift & shift & goto parse)
if "%~1"=="-e" (set "EXTRA=%EXTRA% --epochs %~2" & shift & shift & goto parse)
if "%~1"=="--epochs" (set "EXTRA=%EXTRA% --epochs %~2" & shift & shift & goto parse)
if "%~1"=="-b" (set "EXTRA=%EXTRA% --batch-size %~2" & shift & shift & goto parse)
if "%~1"=="--batch-size" (set "EXTRA=%EXTRA% --batch-size %~2" & shift & shift & goto parse)
if "%~1"=="-l" (set "EXTRA=%EXTRA% --lr %~2" & shift & shift & goto parse)
if "%~1"=="--lr" (set "EXTRA=%EXTRA% --lr %~2" & shift & shift & goto parse)
if "%~1"=="-d" (set "DATA_DIR=%~2" & shift & shift & goto parse)
if "%~1"=="--data-dir" (set "DATA_DIR=%~2" & shift & shift & goto parse)
if "%~1"=="-w" (set "NUM_WORKERS=%~2" & shift & shift & goto parse)
if "%~1"=="--num-workers" (set "NUM_WORKERS=%~2" & shift & shift & goto parse)
if "%~1"=="--workers" (set "NUM_WORKERS=%~2" & shift & shift & goto parse)
if "%~1"=="-c" (set "CONFIG=%~2" & shift & shift & goto parse)
if "%~1"=="--config" (set "CONFIG=%~2" & shift & shift & goto parse)
if "%~1"=="-o" (set "RUN_DIR=%~2" & shift & shift & goto parse)
if "%~1"=="--out" (set "RUN_DIR=%~2" & shift & shift & goto parse)
if "%~1"=="-r" goto resume
if "%~1"=="--resume" goto resume
set "EXTRA=%EXTRA% %1"
shift
goto parse
:resume
REM --resume alone continues the run in the run dir; --resume CKPT starts or continues from that checkpoint.
set "NEXT=%~2"
if "%NEXT%"=="" (set "EXTRA=%EXTRA% --resume" & shift & goto parse)
if "%NEXT:~0,1%"=="-" (set "EXTRA=%EXTRA% --resume" & shift & goto parse)
set "EXTRA=%EXTRA% --resume "%~2""
shift
shift
goto parse
:usage
echo Usage: %~nx0 [options]   (the options of train_custom.sh; --help lists them there)
echo   -s, --stage STAGE  -e, --epochs N  -b, --batch-size N  -l, --lr X  -d, --data-dir DIR
echo   -w, --num-workers N  -c, --config FILE  -o, --out DIR  -r, --resume [CKPT]  -h, --help
exit /b 0
:run
call "%~dp0config.bat"
%PANOVLM% train %TRAIN_ARGS% --stage %STAGE% %EXTRA% > "%LOG_DIR%\%STAGE%_%TIMESTAMP%.log" 2>&1
set "RC=%ERRORLEVEL%"
type "%LOG_DIR%\%STAGE%_%TIMESTAMP%.log"
if not "%RC%"=="0" pause
exit /b %RC%
