#!/usr/bin/env bash
# The GPU checks in one go, on a machine with a CUDA GPU, CuPy and torch:
#   bash bench/gpu_check.sh [OUT_DIR]
# the device tests (tests/test_device.py), where a step's time goes (bench/gpu_profile.py),
# and the harness on the GPU (bench/run.py --device cuda --rounds 5).
out=${1:-bench}
mkdir -p "$out"
export PYTHONPATH=src PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import numpy, cupy, torch; print('numpy', numpy.__version__, 'cupy', cupy.__version__, 'torch', torch.__version__)"
python3 -m pytest -q -p no:cacheprovider -rs tests/test_device.py 2>&1 | tee "$out/gpu-tests.txt" | tail -n 40
python3 bench/gpu_profile.py 2>&1 | tee "$out/gpu-profile.txt"
python3 bench/run.py --device cuda --rounds 5 --out "$out" 2>&1 | tail -n 30
