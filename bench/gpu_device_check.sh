#!/usr/bin/env bash
# Runs bench/gpu_device_check.py on a GPU host with that host's python3 (CuPy, nvidia-ml-py,
# NumPy there). Python packages the host lacks or has too old (protobuf, grpcio, pydantic) may
# be put in .whl/ as cp312 wheels (bash bench/gpu_wheels.sh fetches them; .whl/ is ignored by
# git, so a device call must carry it): they are installed to /tmp/site first. Results go to $OUT
# (default /tmp/gpu-check): gpu_check.json, gpu_check.log, env.txt, gpu_probes.log.
# Usage: bash bench/gpu_device_check.sh [args of gpu_device_check.py]
set -u -o pipefail
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
export PATH="$PATH:/usr/local/cuda/bin" PYTHONUNBUFFERED=1
{
    date -u
    nvidia-smi
    python3 -m pip list 2>/dev/null | grep -i -E "^(cupy|nvidia-ml-py|numpy|protobuf|grpcio|pydantic|torch) "
} >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt"
if compgen -G ".whl/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
python3 bench/gpu_device_check.py --out "$OUT" "$@" 2>&1 | tee "$OUT/gpu_check.log"
rc=$?
# The older bench, briefly, so a later session knows it still runs.
timeout 120 python3 bench/gpu_probes.py --runs 20 >"$OUT/gpu_probes.log" 2>&1
echo "gpu_probes.py exit $?; gpu_device_check.py exit $rc"
exit $rc
