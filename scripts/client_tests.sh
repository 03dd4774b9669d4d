#!/usr/bin/env bash
# Run the client-side tests (SDKs, agent, monitors, probes) where GPU hosts are:
#   .venv-py310   Python 3.10 with the newest grpcio, protobuf and pydantic that install there
#   .venv-oldest  Python 3.10 with the documented floors (grpcio 1.60, protobuf 4.25, pydantic 2.0)
# The server stays on the main venv (Python 3.11+, newest releases), which `make test` covers.
# Each venv is built once and rebuilt when pyproject.toml or this script changes.
#
# Usage: scripts/client_tests.sh [pytest arguments...]
# PYTHON310 names the 3.10 interpreter (default: the newest ~/.pyenv/versions/3.10.*).
set -euo pipefail
cd "$(dirname "$0")/.."

# Client test files; a domain whose client code must run on 3.10 adds its files here.
CLIENT_TESTS=(
  tests/test_light_imports.py
  tests/fleet/test_sdk_api.py
  tests/fleet/test_sdk_client.py
  tests/fleet/test_sdk_config.py
  tests/fleet/test_sdk_tls.py
  tests/fleet/test_sdk_types.py
  tests/fleet/agent/test_agent_buffer.py
  tests/fleet/agent/test_agent_config.py
  tests/fleet/agent/test_agent_scheduler.py
  tests/fleet/monitors/test_monitors_inference.py
  tests/fleet/monitors/test_monitors_invariants.py
  tests/fleet/monitors/test_monitors_training.py
  tests/fleet/probes
  tests/runs/test_procfs.py
  tests/runs/test_tracker.py
)

# What the tests themselves need, beyond the client's dependencies (NVRTC: the probe kernels'
# compile tests, as in the main venv).
TEST_TOOLS=(pytest pytest-asyncio cryptography click "resource-tracker==0.5.0"
  "nvidia-cuda-nvrtc~=13.0.0; sys_platform == 'linux' and platform_machine == 'x86_64'")

# The floors of pyproject.toml's dependencies (and numpy's, for the monitors and probes).
OLDEST=("grpcio==1.60.*" "protobuf==4.25.*" "pydantic==2.0.*" "numpy==1.26.*")
NEWEST=(grpcio protobuf pydantic numpy)

find_python310() {
  if [[ -n "${PYTHON310:-}" ]]; then
    echo "$PYTHON310"
    return
  fi
  local found
  found=$(ls -d "$HOME"/.pyenv/versions/3.10.*/bin/python 2>/dev/null | sort -V | tail -n 1)
  if [[ -z "$found" ]]; then
    found=$(command -v python3.10 || true)
  fi
  if [[ -z "$found" ]]; then
    echo "no Python 3.10 found: install one (pyenv install 3.10) or set PYTHON310" >&2
    exit 1
  fi
  echo "$found"
}

# prepare VENV REQUIREMENTS...: (re)builds VENV unless its stamp matches the inputs.
prepare() {
  local venv=$1
  shift
  local stamp
  stamp="$venv/.installed-$(cat pyproject.toml "$0" | sha256sum | cut -c1-16)"
  if [[ -f "$stamp" ]]; then
    return
  fi
  rm -rf "$venv"
  "$(find_python310)" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q -e . --no-deps
  "$venv/bin/pip" install -q "$@" "${TEST_TOOLS[@]}"
  touch "$stamp"
}

status=0
for run in py310 oldest; do
  venv=".venv-$run"
  if [[ $run == oldest ]]; then
    prepare "$venv" "${OLDEST[@]}"
  else
    prepare "$venv" "${NEWEST[@]}"
  fi
  echo "== client tests on $("$venv/bin/python" -c 'import sys, grpc, google.protobuf, pydantic
print(f"Python {sys.version.split()[0]}, grpcio {grpc.__version__}, "
      f"protobuf {google.protobuf.__version__}, pydantic {pydantic.VERSION}")')"
  "$venv/bin/python" -m pytest -q -p no:cacheprovider "${CLIENT_TESTS[@]}" "$@" || status=1
done
exit $status
