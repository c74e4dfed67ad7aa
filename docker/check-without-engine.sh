#!/usr/bin/env bash
# What `docker build` and the container's start do, run here without a Docker engine:
# the Dockerfile's install (a non-editable install of pyproject.toml into a fresh virtual
# environment) and the commands the image runs. The entrypoint itself is tested by
# tests/test_container.py.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --no-cache-dir --upgrade pip
"$work/venv/bin/python" -m pip install --quiet --no-cache-dir .
export PATH="$work/venv/bin:$PATH" DROPCAST_CONFIG=docker/config.yaml

dropcast --version
dropcast check
# No daemon runs, so the HEALTHCHECK command must report unhealthy (exit 1).
if dropcast health; then
    echo "check-without-engine: 'dropcast health' said healthy with no daemon running" >&2
    exit 1
fi
echo "check-without-engine: ok"
