#!/usr/bin/env bash
# Builds llama-cpp-python once per CPU variant into the wheel cache and installs it into the venv.
#
#   build_llama_wheel.sh PYTHON WHEEL_DIR VERSION [MODEL]
#
# The variant is chosen from the CPU's instruction sets (LLAMA_CPU=auto, the default):
#   avx512   AVX-512 F/BW/DQ/VL, plus VBMI, VNNI and BF16 where the CPU has them;
#   portable AVX2/FMA/F16C, for every other x86-64 CPU (LLAMA_CPU=portable forces it).
# Never AMX and never GGML_NATIVE: a native build emitted AMX instructions that VMs advertising
# AMX still refuse ("Illegal instruction" at the first inference, PLATFORM.md). Wheels are cached
# in WHEEL_DIR/<variant>/. With MODEL given, the installed build must run a short inference; if
# it dies (illegal instruction or any other error), the portable build is installed instead.
set -euo pipefail
PY=${1:?usage: build_llama_wheel.sh PYTHON WHEEL_DIR VERSION [MODEL]}
WHEEL_DIR=${2:?}
VERSION=${3:?}
MODEL=${4:-}
CPU=${LLAMA_CPU:-auto}

flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2 || true)
has() { [[ " $flags " == *" $1 "* ]]; }

variant_args() {  # prints the CMake arguments of a variant
  local common="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"
  case "$1" in
    portable) echo "$common" ;;
    avx512)
      local args="$common -DGGML_AVX512=ON"
      has avx512vbmi && args="$args -DGGML_AVX512_VBMI=ON"
      has avx512_vnni && args="$args -DGGML_AVX512_VNNI=ON"
      has avx512_bf16 && args="$args -DGGML_AVX512_BF16=ON"
      echo "$args" ;;
    *) echo "unknown llama.cpp variant '$1' (auto, portable, avx512)" >&2; return 2 ;;
  esac
}

if [ "$CPU" = auto ]; then
  CPU=portable
  if has avx512f && has avx512bw && has avx512dq && has avx512vl; then CPU=avx512; fi
fi

wheel_for() {  # builds (once) and prints the cached wheel of a variant
  local variant=$1 dir="$WHEEL_DIR/$1" wheel
  mkdir -p "$dir"
  # Wheels cached before variants existed (WHEEL_DIR/*.whl) are the portable build.
  if [ "$variant" = portable ] && ls "$WHEEL_DIR"/llama_cpp_python-"$VERSION"-*.whl >/dev/null 2>&1; then
    mv "$WHEEL_DIR"/llama_cpp_python-"$VERSION"-*.whl "$dir"/
  fi
  wheel=$(ls "$dir"/llama_cpp_python-"$VERSION"-*.whl 2>/dev/null | head -n1 || true)
  if [ -z "$wheel" ]; then
    echo "Building llama-cpp-python $VERSION for $variant (about 5 min on 2 cores; cached in $dir)" >&2
    CMAKE_ARGS="$(variant_args "$variant")" CMAKE_BUILD_PARALLEL_LEVEL=2 \
      "$PY" -m pip wheel --no-deps --no-cache-dir -w "$dir" "llama-cpp-python==$VERSION" >&2
    wheel=$(ls "$dir"/llama_cpp_python-"$VERSION"-*.whl | head -n1)
  fi
  echo "$wheel"
}

smoke_test() {  # a short real inference: the first use of the build's vector instructions
  [ -n "$MODEL" ] && [ -f "$MODEL" ] || return 0
  "$PY" - "$MODEL" <<'EOF'
import sys
import llama_cpp
llm = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=256, n_threads=2, verbose=False)
out = llm.create_completion('def add(a, b):', max_tokens=4, temperature=0.0)
assert out['choices'][0]['text'], 'no text generated'
EOF
}

install() {  # replaces whichever variant is installed (same version: pip would keep it)
  "$PY" -m pip uninstall -q -y llama-cpp-python >/dev/null 2>&1 || true
  "$PY" -m pip install -q "$1"
}

install "$(wheel_for "$CPU")"
if ! smoke_test; then
  if [ "$CPU" = portable ]; then
    echo "llama.cpp (portable build) failed its test inference on this CPU" >&2
    exit 1
  fi
  echo "llama.cpp built for $CPU failed its test inference on this CPU: installing the portable build" >&2
  CPU=portable
  install "$(wheel_for portable)"
  smoke_test
fi
echo "llama.cpp: $CPU build installed"
