# codeact_robot: `make demo` and `make test` set up everything on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
CACHE ?= $(HOME)/.cache/codeact_robot
LLAMA_CPP_VERSION := 0.3.36
MODEL := $(CACHE)/models/qwen2.5-coder-1.5b-instruct-q4.gguf
STAMPS := $(VENV)/.stamps
PYTEST_ARGS ?=

# DDS stays on this machine, and parallel runs do not see each other (README: "Networking").
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST
export ROS_DOMAIN_ID ?= $(shell shuf -i 1-101 -n 1)
export MUJOCO_GL ?= egl
export CODEACT_ROBOT_CACHE := $(CACHE)

.PHONY: help setup test test-fast lint bench soak demo clean

help:
	@echo "make demo   set up (first time ~15 min) and run the warehouse demo with the embedded model"
	@echo "make test   set up and run the whole test suite"
	@echo "make test-fast  the ROS-free core and a few real-node acceptance tests (~3 min)"
	@echo "make setup  create $(VENV): ROS 2 wheels, interfaces, this package, llama.cpp, model"
	@echo "make bench  run the benchmarks; results in bench/results/"
	@echo "make lint   ruff over the Python sources"

ROS_MSGS := $(STAMPS)/interfaces $(STAMPS)/tf2_msgs $(STAMPS)/nav2_msgs

setup: $(STAMPS)/ros $(ROS_MSGS) $(STAMPS)/package $(STAMPS)/llama $(MODEL)

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q -U pip wheel setuptools

$(STAMPS)/ros: requirements/ros.txt requirements/ros-build.txt | $(PY)
	$(PY) -m pip install -q -r requirements/ros.txt -r requirements/ros-build.txt
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/interfaces: $(STAMPS)/ros scripts/build_interfaces.sh \
		scripts/cmake/relocate_wheel_python_include.cmake \
		$(shell find codeact_robot_interfaces -type f 2>/dev/null)
	scripts/build_interfaces.sh $(VENV) build/codeact_robot_interfaces
	@touch $@

# /tf needs tf2_msgs, and `navigation: nav2` nav2_msgs, which no PyPI wheel provides: build the
# definitions in third_party/ unless a ROS installation already provides the package.
$(STAMPS)/%_msgs: $(STAMPS)/ros scripts/build_interfaces.sh $(wildcard third_party/*_msgs/*) \
		$(wildcard third_party/*_msgs/*/*)
	$(PY) -c "import $*_msgs" 2>/dev/null && [ ! -f build/$*_msgs/Makefile ] \
		&& echo "$*_msgs: provided by the ROS installation" \
		|| scripts/build_interfaces.sh $(VENV) build/$*_msgs third_party/$*_msgs "import $*_msgs"
	@touch $@

$(STAMPS)/package: setup.py $(STAMPS)/ros
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

# The build for this CPU (LLAMA_CPU=portable forces the AVX2 build); its test inference needs
# the model.
$(STAMPS)/llama: scripts/build_llama_wheel.sh $(MODEL) | $(PY)
	scripts/build_llama_wheel.sh $(PY) $(CACHE)/wheels $(LLAMA_CPP_VERSION) $(MODEL)
	@mkdir -p $(STAMPS) && touch $@

$(MODEL): codeact_robot/model_cache.py | $(PY) $(STAMPS)/package
	$(PY) -m codeact_robot.model_cache --models-dir $(CACHE)/models

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

# The fast tier needs no model: ROS 2 wheels, interfaces and this package are enough.
test-fast: $(STAMPS)/ros $(ROS_MSGS) $(STAMPS)/package
	$(PY) -m pytest -m "acceptance or not (ros or slow or model)" $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check codeact_robot test launch bench scripts

bench: setup
	$(PY) -m bench.run_all $(BENCH)

# 100 scripted CodeAct episodes back to back: memory, fds, threads, processes must stay flat.
soak: $(STAMPS)/ros $(ROS_MSGS) $(STAMPS)/package
	$(PY) -m bench.bench_soak $(SOAK_ARGS)

demo: setup
	$(VENV)/bin/codeact-robot demo --backend llama_cpp

clean:
	rm -rf build $(VENV)
