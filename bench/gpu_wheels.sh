#!/usr/bin/env bash
# Fills .whl/ with the cp312 wheels that bench/gpu_device_check.sh installs on a GPU host, which
# cannot reach a package index: what the check imports besides NumPy, CuPy and nvidia-ml-py,
# at the versions of this checkout's venv. Run it here, before the device call; the device
# tool copies .whl/ with the working tree.
# Usage: bash bench/gpu_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t pins < <(.venv/bin/python - <<'PY'
from importlib import metadata

for name in (
    "protobuf", "grpcio", "grpcio-health-checking", "grpcio-reflection", "grpcio-tools",
    "pydantic", "pydantic-core", "annotated-types", "typing-inspection", "typing-extensions",
):
    print(f"{name}=={metadata.version(name)}")
PY
)
.venv/bin/python -m pip download -q --only-binary=:all: --no-deps --dest .whl \
    --python-version 3.12 --implementation cp --abi cp312 --abi none --abi abi3 \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux_2_28_x86_64 --platform any "${pins[@]}"
ls .whl
