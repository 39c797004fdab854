# mtrace: one-command setup, build, demo and tests.
#
#   make demo   create the environment if missing, build, run the demo tree
#               (RECORD=DIR also records it into the rosbag2 directory DIR)
#   make test   create the environment if missing, build, run every test
#   make bench  measure what tracing costs against plain rclpy (under 3 minutes)
#   make soak   run the demo tree for SOAK_DURATION s: trace ids, coverage, flat memory
#   make test ROS_WHEELS=jazzy   the same on ROS 2 Jazzy (also demo, bench, soak, lint)
#
# Without a sourced ROS 2 distro, the environment is a venv with pinned ROS 2
# wheels: ROS_WHEELS=kilted (the default) is .venv from requirements.txt and
# constraints.txt, built into build/ and install/; ROS_WHEELS=jazzy is
# .venv-jazzy from requirements-jazzy.txt and constraints-jazzy.txt, built into
# build-jazzy/ and install-jazzy/. Both coexist. With a sourced distro
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

ROS_WHEELS ?= kilted

ifeq ($(ROS_WHEELS),kilted)
VENV := .venv
WHEELS_SUFFIX :=
else ifeq ($(ROS_WHEELS),jazzy)
VENV := .venv-jazzy
WHEELS_SUFFIX := -jazzy
else
$(error ROS_WHEELS must be kilted or jazzy, not '$(ROS_WHEELS)')
endif

ifdef ROS_DISTRO
ifneq ($(ROS_WHEELS),kilted)
$(error ROS_WHEELS=$(ROS_WHEELS) picks a wheel venv, but ROS_DISTRO=$(ROS_DISTRO) is sourced: \
	use a shell without a sourced distro)
endif
ENV_STAMP :=
else
ENV_STAMP := $(VENV)/.mtrace-env-stamp
endif

REQUIREMENTS := requirements$(WHEELS_SUFFIX).txt
CONSTRAINTS := constraints$(WHEELS_SUFFIX).txt
BUILD_BASE := build$(WHEELS_SUFFIX)
INSTALL_BASE := install$(WHEELS_SUFFIX)
LOG_BASE := log$(WHEELS_SUFFIX)

COLCON := colcon --log-base $(LOG_BASE)
COLCON_PACKAGES := --base-paths mtrace_msgs mtrace_ros \
	--build-base $(BUILD_BASE) --install-base $(INSTALL_BASE)
ACTIVATE := export ROS_WHEELS=$(ROS_WHEELS) && source ./activate.sh

MSGS_SOURCES := $(shell find mtrace_msgs -type f)
ROS_SOURCES := $(shell find mtrace_ros -type f -not -path 'mtrace_ros/test/*' \
	-not -name '*.pyc' -not -path '*/__pycache__/*' -not -path '*.egg-info/*')

.PHONY: help env build demo test bench soak lint clean distclean browser

help:
	@grep -E '^#   make ' Makefile | sed 's/^#   //'

env: $(ENV_STAMP)

$(VENV)/.mtrace-env-stamp: $(REQUIREMENTS) $(CONSTRAINTS) tools/bootstrap_venv.sh \
		tools/fix_wheel_cmake_paths.py
	tools/bootstrap_venv.sh $(VENV) $(REQUIREMENTS) $(CONSTRAINTS)

$(BUILD_BASE)/.mtrace_msgs.stamp: $(ENV_STAMP) $(MSGS_SOURCES)
	$(ACTIVATE) && $(COLCON) build $(COLCON_PACKAGES) --packages-select mtrace_msgs
	touch $@

$(BUILD_BASE)/.mtrace_ros.stamp: $(BUILD_BASE)/.mtrace_msgs.stamp $(ROS_SOURCES)
	$(ACTIVATE) && $(COLCON) build $(COLCON_PACKAGES) --packages-select mtrace_ros
	touch $@

build: $(BUILD_BASE)/.mtrace_ros.stamp

demo: build
	$(ACTIVATE) && python3 -m mtrace_ros.demo.run --duration $(DURATION) --rate $(RATE) \
		--html $(BUILD_BASE)/demo/traces.html $(if $(RECORD),--record $(RECORD))

test: build browser
	$(ACTIVATE) && $(COLCON) test $(COLCON_PACKAGES) --packages-select mtrace_ros \
		--event-handlers console_direct+ --return-code-on-test-failure \
		$(if $(PYTEST_ARGS),--pytest-args $(PYTEST_ARGS))

bench: build
	$(ACTIVATE) && python3 bench/run.py $(BENCH_ARGS)

soak: build
	$(ACTIVATE) && python3 bench/soak.py --duration $(SOAK_DURATION) --rate $(SOAK_RATE)

# Chromium for the browser tests, from the distribution when missing (CI=true: required).
browser:
	tools/install_chromium.sh

lint: build
	$(ACTIVATE) && cd mtrace_ros && python3 -m pytest -m linter test

clean:
	rm -rf $(BUILD_BASE) $(INSTALL_BASE) $(LOG_BASE)

distclean: clean
	rm -rf $(VENV)
