# mtrace: one-command setup, build, demo and tests.
#
#   make demo   create the environment if missing, build, run the demo tree
#   make test   create the environment if missing, build, run every test
#   make bench  measure what tracing costs against plain rclpy (under 3 minutes)
#   make soak   run the demo tree for SOAK_DURATION s: trace ids, coverage, flat memory
#
# Without a sourced ROS 2 distro, the environment is a venv (.venv) with the
# pinned ROS 2 Kilted wheels (requirements.txt, constraints.txt); with one
# (ROS_DISTRO set), that distro is used as it is.

SHELL := /bin/bash
.SHELLFLAGS := -e -o pipefail -c
.DEFAULT_GOAL := help

DURATION ?= 10
RATE ?= 2.0
PYTEST_ARGS ?=
BENCH_ARGS ?=
SOAK_DURATION ?= 120
SOAK_RATE ?= 20

COLCON_PACKAGES := --base-paths mtrace_msgs mtrace_ros
ACTIVATE := source ./activate.sh

ifdef ROS_DISTRO
ENV_STAMP :=
else
ENV_STAMP := .venv/.mtrace-env-stamp
endif

MSGS_SOURCES := $(shell find mtrace_msgs -type f)
ROS_SOURCES := $(shell find mtrace_ros -type f -not -path 'mtrace_ros/test/*' \
	-not -name '*.pyc' -not -path '*/__pycache__/*' -not -path '*.egg-info/*')

.PHONY: help env build demo test bench soak lint clean distclean

help:
	@grep -E '^#   make ' Makefile | sed 's/^#   //'

env: $(ENV_STAMP)

.venv/.mtrace-env-stamp: requirements.txt constraints.txt tools/bootstrap_venv.sh \
		tools/fix_wheel_cmake_paths.py
	tools/bootstrap_venv.sh .venv

build/.mtrace_msgs.stamp: $(ENV_STAMP) $(MSGS_SOURCES)
	$(ACTIVATE) && colcon build $(COLCON_PACKAGES) --packages-select mtrace_msgs
	touch $@

build/.mtrace_ros.stamp: build/.mtrace_msgs.stamp $(ROS_SOURCES)
	$(ACTIVATE) && colcon build $(COLCON_PACKAGES) --packages-select mtrace_ros
	touch $@

build: build/.mtrace_ros.stamp

demo: build
	$(ACTIVATE) && python3 -m mtrace_ros.demo.run --duration $(DURATION) --rate $(RATE)

test: build
	$(ACTIVATE) && colcon test $(COLCON_PACKAGES) --packages-select mtrace_ros \
		--event-handlers console_direct+ --return-code-on-test-failure \
		$(if $(PYTEST_ARGS),--pytest-args $(PYTEST_ARGS))

bench: build
	$(ACTIVATE) && python3 bench/run.py $(BENCH_ARGS)

soak: build
	$(ACTIVATE) && python3 bench/soak.py --duration $(SOAK_DURATION) --rate $(SOAK_RATE)

lint: build
	$(ACTIVATE) && cd mtrace_ros && python3 -m pytest -m linter test

clean:
	rm -rf build install log

distclean: clean
	rm -rf .venv
