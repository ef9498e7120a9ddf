"""The one error root of zhikong.

::

    ZhikongError
     ├── InvalidInput (also ValueError)    bad input from a user, a file or a feed; names field/row
     │    └── RowErrors                    many row-level problems in one file (carries them all)
     ├── NotFound                          an id that does not exist (or is outside your jurisdiction)
     ├── PermissionDenied                  the role or jurisdiction does not allow it
     ├── Conflict                          a state conflict: illegal transition, duplicate, stale write
     ├── ConfigError                       settings or policy files that are missing or contradictory
     └── EngineError                       a query engine (DuckDB, Spark) or database failed
          └── MissingExtra                 an optional dependency is not installed

HTTP status codes and CLI exit codes are mapped from this tree in one place each
(``zhikong.web.errors`` and ``zhikong.cli``); services only raise.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class ZhikongError(Exception):
    """Root of every error zhikong raises on purpose."""

    #: process exit code for the CLI, HTTP status for the API
    exit_code: int = 1
    http_status: int = 500
    code: str = "error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"error": self.code, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        return out


class InvalidInput(ZhikongError, ValueError):
    """Bad input: a field, a row or a file that cannot be accepted."""

    exit_code = 2
    http_status = 422
    code = "invalid_input"


@dataclass(frozen=True)
class RowError:
    """One rejected row of an input file."""

    row: int
    field: str
    reason: str
    value: str | None = None
    file: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}: " if self.file else ""
        val = f" (value {self.value!r})" if self.value not in (None, "") else ""
        return f"{where}row {self.row}, field {self.field}: {self.reason}{val}"


@dataclass
class RowErrors(InvalidInput):
    """Several row-level errors of one file; nothing of the file was stored."""

    errors: list[RowError] = field(default_factory=list)
    file: str | None = None

    def __post_init__(self) -> None:
        head = "; ".join(str(e) for e in self.errors[:5])
        more = f" (+{len(self.errors) - 5} more)" if len(self.errors) > 5 else ""
        InvalidInput.__init__(self, f"{len(self.errors)} bad rows in {self.file or 'input'}: {head}{more}")

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        out["rows"] = [e.__dict__ for e in self.errors[:1000]]
        return out


class NotFound(ZhikongError):
    exit_code = 3
    http_status = 404
    code = "not_found"


class PermissionDenied(ZhikongError):
    exit_code = 4
    http_status = 403
    code = "permission_denied"


class Unauthenticated(ZhikongError):
    exit_code = 4
    http_status = 401
    code = "unauthenticated"


class Conflict(ZhikongError):
    exit_code = 5
    http_status = 409
    code = "conflict"


class ConfigError(ZhikongError):
    exit_code = 6
    http_status = 500
    code = "config_error"


class EngineError(ZhikongError):
    exit_code = 7
    http_status = 503
    code = "engine_error"


class MissingExtra(EngineError):
    """An optional dependency is missing; the message says what to install."""

    code = "missing_extra"

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(f"{module} is not installed: install it with `pip install 'zhikong[{extra}]'`")
        self.module = module
        self.extra = extra
