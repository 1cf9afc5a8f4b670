#!/usr/bin/env bash
# Builds llama-cpp-python once into the wheel cache and installs it into the venv.
# The flags matter: the default native build emits AMX instructions that these VMs refuse
# ("Illegal instruction" at the first inference), so we pin a portable AVX2 build.
set -euo pipefail
PY=${1:?usage: build_llama_wheel.sh PYTHON WHEEL_DIR VERSION}
WHEEL_DIR=${2:?}
VERSION=${3:?}
mkdir -p "$WHEEL_DIR"
wheel=$(ls "$WHEEL_DIR"/llama_cpp_python-"$VERSION"-*.whl 2>/dev/null | head -n1 || true)
if [ -z "$wheel" ]; then
  echo "Building llama-cpp-python $VERSION (about 5 min on 2 cores; cached afterwards in $WHEEL_DIR)"
  export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
  export CMAKE_BUILD_PARALLEL_LEVEL=2
  "$PY" -m pip wheel --no-deps --no-cache-dir -w "$WHEEL_DIR" "llama-cpp-python==$VERSION"
  wheel=$(ls "$WHEEL_DIR"/llama_cpp_python-"$VERSION"-*.whl | head -n1)
fi
"$PY" -m pip install -q "$wheel"
