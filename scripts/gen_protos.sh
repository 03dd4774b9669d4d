#!/usr/bin/env bash
# Regenerate the Python stubs of proto/sentinel/v1 into src/sentinel/v1 (committed, excluded
# from lint).
#
# The stubs are generated with the OLDEST supported toolchain, grpcio-tools 1.60 (whose protoc
# writes protobuf 4.25 gencode), installed into a throw-away virtual environment. Newer
# generators stamp their output with a version check (protobuf's
# ValidateProtobufRuntimeVersion, grpc's GRPC_GENERATED_VERSION) that refuses any older
# runtime, so stubs from today's grpcio-tools would not import beside protobuf 4.25 or
# grpcio 1.60, the floors the SDK supports. Older gencode runs on newer runtimes:
# scripts/client_tests.sh tests the SDK on the floors, `make test` on the newest releases.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TOOLS=$(mktemp -d)
trap 'rm -rf "$TOOLS"' EXIT
"$PYTHON" -m venv "$TOOLS"
"$TOOLS/bin/pip" install -q "grpcio-tools==1.60.*"
rm -f src/sentinel/v1/*_pb2.py src/sentinel/v1/*_pb2.pyi src/sentinel/v1/*_pb2_grpc.py
"$TOOLS/bin/python" -m grpc_tools.protoc --proto_path=proto --python_out=src --pyi_out=src \
  --grpc_python_out=src proto/sentinel/v1/*.proto
touch src/sentinel/v1/__init__.py
