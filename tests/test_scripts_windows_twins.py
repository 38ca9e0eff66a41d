"""Every ``scripts/*.sh`` has a ``.bat`` twin that makes the same CLI calls with the same options (seed 004).

The batch files cannot run here, so they are kept trivially thin and this structural check is their test:
per script, the list of calls ``(subcommand or called script, --stage value, set of --options)`` must agree.
A variable on a call line (``"${EXTRA[@]}"``, ``%TRAIN_ARGS%``) contributes the options of the lines that
define it, in the script or its config file; ``panovlm_train STAGE`` is config.sh's ``train`` call.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]*")
Call = tuple[str, str | None, frozenset]


def _flags(lines: list[str]) -> set[str]:
    return {f for line in lines for f in FLAG.findall(line)}


def _stage(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip('"')
    return "<variable>" if "$" in value or "%" in value else value


def _sh_lines(path: Path) -> list[str]:
    text = path.read_text().replace("\\\n", " ")
    return [line.split(" #")[0] for line in text.splitlines() if not line.lstrip().startswith("#")]


def _sh_defs(lines: list[str], var: str) -> list[str]:
    return [line for line in lines if re.search(rf"\b{var}\+?=\(", line)]


def sh_calls(path: Path) -> list[Call]:
    lines, config = _sh_lines(path), _sh_lines(SCRIPTS / "config.sh")
    function = config[next(i for i, line in enumerate(config) if line.startswith("panovlm_train()")):]
    function = function[:next(i for i, line in enumerate(function) if line.startswith("}"))]
    calls = []
    for line in lines:
        used = {var for var in re.findall(r"\$\{(\w+)\[@\]\}", line)}
        extra = _flags([d for var in used for d in _sh_defs(lines, var)])
        if m := re.search(r"\$PANOVLM (\w+)", line):
            flags = _flags([line]) | extra
            stage = re.search(r"--stage (\S+)", line)
            calls.append((m.group(1), _stage(stage.group(1) if stage else None), frozenset(flags)))
        elif m := re.search(r"^\s*panovlm_train (\S+)", line):
            flags = _flags(_sh_defs(function, "args")) | extra
            calls.append(("train", _stage(m.group(1)), frozenset(flags)))
        for script in re.findall(r"/(\w+)\.sh\"", line):
            if script != "config":
                calls.append((f"script:{script}", None, frozenset(_flags([line.split(".sh")[-1]]))))
    return calls


def bat_calls(path: Path) -> list[Call]:
    lines = [line for line in path.read_text().splitlines() if not line.lstrip().upper().startswith("REM")]
    config = (SCRIPTS / "config.bat").read_text().splitlines()
    calls = []
    for line in lines:
        used = set(re.findall(r"%(\w+)%", line))
        defs = [d for var in used for d in lines + config if re.search(rf'set "{var}=', d)]
        if m := re.search(r"%PANOVLM% (\w+)", line):
            stage = re.search(r"--stage (\S+)", line)
            calls.append((m.group(1), _stage(stage.group(1) if stage else None),
                          frozenset(_flags([line]) | _flags(defs))))
        for script in re.findall(r'call "%~dp0(\w+)\.bat"', line):
            if script != "config":
                calls.append((f"script:{script}", None, frozenset(_flags([line.split(".bat")[-1]]))))
    return calls


SH = sorted(p for p in SCRIPTS.glob("*.sh"))


def test_every_shell_script_has_a_batch_twin():
    missing = [p.name for p in SH if not p.with_suffix(".bat").is_file()]
    assert not missing, f"no .bat twin for {missing}"
    orphans = [p.name for p in SCRIPTS.glob("*.bat") if not p.with_suffix(".sh").is_file()]
    assert not orphans, f".bat files without a .sh twin: {orphans}"


@pytest.mark.parametrize("sh", [p for p in SH if p.name not in ("config.sh", "run_tests.sh")], ids=lambda p: p.stem)
def test_batch_twin_makes_the_same_cli_calls(sh):
    expected = sh_calls(sh)
    assert expected, f"{sh.name}: no CLI call found (the parser of this test is out of date)"
    assert sorted(bat_calls(sh.with_suffix(".bat")), key=repr) == sorted(expected, key=repr)


def test_run_tests_twin_runs_the_same_pytest_command():
    command = 'python -m pytest -m "not slow"'
    assert command in (SCRIPTS / "run_tests.sh").read_text() and command in (SCRIPTS / "run_tests.bat").read_text()


def test_train_custom_batch_accepts_the_same_options():
    sh = set(re.findall(r"(-{1,2}[a-z][a-z-]*)(?=[|)])", (SCRIPTS / "train_custom.sh").read_text()))
    bat = set(re.findall(r'if "%~1"=="(-{1,2}[a-z][a-z-]*)"', (SCRIPTS / "train_custom.bat").read_text()))
    assert sh and bat == sh


def test_batch_files_have_crlf_line_endings():
    for bat in SCRIPTS.glob("*.bat"):
        data = bat.read_bytes()
        assert data.count(b"\n") == data.count(b"\r\n"), f"{bat.name} has LF-only lines"


def test_the_parser_sees_a_difference():
    # The check must be able to fail: a twin that drops an option is caught.
    calls = bat_calls(SCRIPTS / "stage1_vision_train.bat")
    flags = calls[0][2]
    assert {"--config", "--out", "--stage", "--epochs", "--batch-size", "--data-dir"} <= flags
    assert sh_calls(SCRIPTS / "stage1_vision_train.sh")[0][2] == flags
