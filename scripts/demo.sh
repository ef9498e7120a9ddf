#!/usr/bin/env bash
# The main job on the embedded defaults (SQLite + DuckDB + local Parquet): set everything up, then
# run `zhikong demo` (create the database, load Banan, generate the ledger and world, print a summary).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/zhikong demo "$@"
