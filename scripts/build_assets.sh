#!/usr/bin/env bash
# Builds the web command centre's vendor assets from npm into src/zhikong/web/static/vendor/:
# Leaflet (map), Apache ECharts (charts), HTMX (partial page updates) and, for the browser tests,
# axe-core. Nothing is fetched from a CDN at run time. Idempotent and quick on a second run.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v npm >/dev/null 2>&1; then
  echo "build_assets: npm not found; install Node.js (Debian: apt-get install nodejs npm)" >&2
  exit 1
fi

stamp=node_modules/.zhikong-stamp
lock=package-lock.json
if [ ! -f "$stamp" ] || [ package.json -nt "$stamp" ] || { [ -f "$lock" ] && [ "$lock" -nt "$stamp" ]; }; then
  echo "==> installing front-end packages from npm"
  if [ -f "$lock" ]; then
    npm ci --no-audit --no-fund --loglevel=error
  else
    npm install --no-audit --no-fund --loglevel=error
  fi
  touch "$stamp"
fi

out=src/zhikong/web/static/vendor
mkdir -p "$out/leaflet/images" "$out/echarts" "$out/htmx" "$out/axe-core"
copy() {  # copy only when changed, so a second run is a no-op
  if ! cmp -s "$1" "$2"; then cp "$1" "$2"; fi
}
copy node_modules/leaflet/dist/leaflet.js "$out/leaflet/leaflet.js"
copy node_modules/leaflet/dist/leaflet.css "$out/leaflet/leaflet.css"
for img in node_modules/leaflet/dist/images/*.png; do
  copy "$img" "$out/leaflet/images/$(basename "$img")"
done
copy node_modules/echarts/dist/echarts.min.js "$out/echarts/echarts.min.js"
copy node_modules/htmx.org/dist/htmx.min.js "$out/htmx/htmx.min.js"
copy node_modules/axe-core/axe.min.js "$out/axe-core/axe.min.js"
echo "==> web assets in $out"
