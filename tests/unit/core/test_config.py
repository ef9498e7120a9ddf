from __future__ import annotations

from pathlib import Path

import pytest

from zhikong.core.config import Settings, get_settings
from zhikong.core.errors import ConfigError


def test_defaults_are_embedded(settings: Settings) -> None:
    assert settings.resolved_database_url.startswith("sqlite:///")
    assert settings.resolved_database_url.endswith("var/zhikong.db")
    assert settings.resolved_lake_dir == settings.data_dir / "lake"
    assert settings.locale == "zh_CN"


def test_env_overrides(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZHIKONG_LOCALE", "en")
    monkeypatch.setenv("ZHIKONG_LAKE_DIR", "/tmp/elsewhere")
    get_settings.cache_clear()
    s = get_settings()
    assert s.locale == "en"
    assert s.resolved_lake_dir == Path("/tmp/elsewhere")


def test_toml_file_is_read_and_env_wins(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                        tmp_path: Path) -> None:
    cfg = tmp_path / "z.toml"
    cfg.write_text('locale = "en"\nretention_days = 14\ndatabase_url = "sqlite:///x.db"\n')
    monkeypatch.setenv("ZHIKONG_CONFIG", str(cfg))
    monkeypatch.setenv("ZHIKONG_RETENTION_DAYS", "21")
    get_settings.cache_clear()
    s = get_settings()
    assert s.locale == "en"
    assert s.retention_days == 21
    assert s.resolved_database_url == "sqlite:///x.db"


def test_bad_values_give_config_error(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZHIKONG_LOCALE", "fr")
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="locale"):
        get_settings()


def test_missing_config_file_is_named(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZHIKONG_CONFIG", "/nonexistent/zhikong.toml")
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match=r"/nonexistent/zhikong\.toml"):
        get_settings()


def test_secret_is_generated_once_and_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZHIKONG_SECRET_KEY", raising=False)
    s = Settings(data_dir=tmp_path / "d")
    first = s.secret_bytes()
    assert len(first) >= 32
    assert s.secret_bytes() == first
    assert ((tmp_path / "d" / "secret.key").stat().st_mode & 0o777) == 0o600


def test_short_secret_rejected() -> None:
    with pytest.raises(ConfigError, match="secret_key"):
        Settings(secret_key="short").secret_bytes()
