#!/usr/bin/env bash
# Builds the nested ament_cmake package codeact_robot_interfaces with plain cmake and installs it
# into the virtualenv, which the ROS 2 PyPI wheels turn into a ROS install prefix.
set -euo pipefail
VENV=$(cd "${1:?usage: build_interfaces.sh VENV BUILD_DIR}" && pwd)
BUILD=${2:?}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$BUILD"
export PATH="$VENV/bin:$PATH" VIRTUAL_ENV="$VENV"
cmake -S "$ROOT/codeact_robot_interfaces" -B "$BUILD" \
  -DCMAKE_PROJECT_INCLUDE="$ROOT/scripts/cmake/relocate_wheel_python_include.cmake" \
  -DCMAKE_PREFIX_PATH="$VENV" -DCMAKE_INSTALL_PREFIX="$VENV" \
  -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF > "$BUILD/configure.log" 2>&1 \
  || { cat "$BUILD/configure.log"; echo "error: configuring codeact_robot_interfaces failed" >&2; exit 1; }
cmake --build "$BUILD" -j"$(nproc)" > "$BUILD/build.log" 2>&1 \
  || { tail -50 "$BUILD/build.log"; echo "error: building codeact_robot_interfaces failed" >&2; exit 1; }
cmake --install "$BUILD" > /dev/null
"$VENV/bin/python" -c "from codeact_robot_interfaces.action import ExecuteCommand" \
  || { echo "error: codeact_robot_interfaces was built but does not import" >&2; exit 1; }
echo "codeact_robot_interfaces installed into $VENV"
