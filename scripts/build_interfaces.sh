#!/usr/bin/env bash
# Builds an ament_cmake interface package with plain cmake and installs it into the virtualenv,
# which the ROS 2 PyPI wheels turn into a ROS install prefix.
#   build_interfaces.sh VENV BUILD_DIR [PACKAGE_DIR [PYTHON_IMPORT_CHECK]]
# Default package: the nested codeact_robot_interfaces.
set -euo pipefail
VENV=$(cd "${1:?usage: build_interfaces.sh VENV BUILD_DIR [PACKAGE_DIR [IMPORT_CHECK]]}" && pwd)
BUILD=${2:?}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PKG=$(cd "${3:-$ROOT/codeact_robot_interfaces}" && pwd)
NAME=$(basename "$PKG")
CHECK=${4:-from codeact_robot_interfaces.action import ExecuteCommand}
mkdir -p "$BUILD"
export PATH="$VENV/bin:$PATH" VIRTUAL_ENV="$VENV"
cmake -S "$PKG" -B "$BUILD" \
  -DCMAKE_PROJECT_INCLUDE="$ROOT/scripts/cmake/relocate_wheel_python_include.cmake" \
  -DCMAKE_PREFIX_PATH="$VENV" -DCMAKE_INSTALL_PREFIX="$VENV" \
  -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF > "$BUILD/configure.log" 2>&1 \
  || { cat "$BUILD/configure.log"; echo "error: configuring $NAME failed" >&2; exit 1; }
cmake --build "$BUILD" -j"$(nproc)" > "$BUILD/build.log" 2>&1 \
  || { tail -50 "$BUILD/build.log"; echo "error: building $NAME failed" >&2; exit 1; }
cmake --install "$BUILD" > /dev/null
"$VENV/bin/python" -c "$CHECK" \
  || { echo "error: $NAME was built but does not import" >&2; exit 1; }
echo "$NAME installed into $VENV"
