from __future__ import annotations

import pytest
from typer.testing import CliRunner

from zhikong import InvalidInput, ZhikongError
from zhikong.cli import app, report_error
from zhikong.core.config import Settings
from zhikong.core.errors import NotFound, RowError, RowErrors


def test_error_tree() -> None:
    assert issubclass(InvalidInput, ValueError)
    assert issubclass(InvalidInput, ZhikongError)
    assert NotFound("x").http_status == 404
    assert InvalidInput("bad", field="phone").to_dict() == {
        "error": "invalid_input", "message": "bad", "field": "phone"}


def test_row_errors_message_names_file_row_field() -> None:
    err = RowErrors(errors=[RowError(row=3, field="id_number", reason="check digit wrong",
                                     value="110105194912310021")], file="ledger.csv")
    assert "ledger.csv" in str(err)
    assert "row 3" in str(err)
    assert "id_number" in str(err)
    assert isinstance(err, ValueError)


def test_report_error_returns_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert report_error(NotFound("no such case 42")) == 3
    assert "no such case 42" in capsys.readouterr().err


def test_help_everywhere() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "db" in result.output
    for group in ("db",):
        sub = runner.invoke(app, [group, "--help"])
        assert sub.exit_code == 0, sub.output


def test_db_upgrade_command(settings: Settings) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "database at" in result.output  # the heads of every domain branch
