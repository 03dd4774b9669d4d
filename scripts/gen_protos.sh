#!/usr/bin/env bash
# Regenerate the Python stubs of proto/sentinel/v1 into src/sentinel/v1 (committed, excluded from lint).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m grpc_tools.protoc --proto_path=proto --python_out=src --pyi_out=src --grpc_python_out=src proto/sentinel/v1/*.proto
touch src/sentinel/v1/__init__.py
