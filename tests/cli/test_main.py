"""The ``panovlm`` entry point: subcommand dispatch."""

import pytest

from panovlm import cli


def test_value_equal_to_the_command_name_is_kept(monkeypatch):
    seen = {}

    def fake_run(args):
        seen["out"] = args.out
        return 0

    monkeypatch.setattr("panovlm.cli.quickstart.run", fake_run)
    assert cli.main(["quickstart", "--out", "quickstart"]) == 0
    assert str(seen["out"]) == "quickstart"


def test_no_command_prints_help_and_fails(capsys):
    assert cli.main([]) == 2
    assert "quickstart" in capsys.readouterr().out


def test_unknown_command_is_an_error():
    with pytest.raises(SystemExit):
        cli.main(["nonsense"])


def test_subcommand_help_lists_its_own_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--help"])
    assert exit_info.value.code == 0
    assert "--stage" in capsys.readouterr().out
