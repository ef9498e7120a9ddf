#!/usr/bin/env bash
# The whole test suite: set everything up (including the test-only Debian packages), lint, type-check,
# then run unit, integration (SQLite and a throwaway PostgreSQL), Spark and e2e tests.
set -euo pipefail
cd "$(dirname "$0")/.."
ZHIKONG_SETUP_TESTS=1 bash scripts/setup.sh
echo "==> ruff"; .venv/bin/ruff check src tests benchmarks
echo "==> mypy"; .venv/bin/mypy
echo "==> pytest"
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
