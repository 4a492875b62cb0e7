# dojo: the README's two commands.
#   make demo   set up .venv on a fresh Debian/Ubuntu machine and run the main job on the sim cell:
#               expert demonstrations -> dojo train (ACT) -> dojo eval -> outputs/report.md
#   make demo QUICK=1   the same loop on a tiny budget (mechanics only, a few minutes) in outputs/quick
#   make test   same set-up, then the import layering, the whole test suite and a colcon build of src/
#   make test-fast   the test suite without the slow (real-time, subprocess) tests, while developing
# ROS_DISTRO=kilted selects the ros-kilted-* wheels (in .venv-kilted, so both can coexist).

ROS_DISTRO ?= jazzy
VENV ?= $(if $(filter jazzy,$(ROS_DISTRO)),.venv,.venv-$(ROS_DISTRO))
PYTHON ?= python3
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --disable-pip-version-check -q

ROS_WHEELS := rclpy sensor-msgs std-msgs geometry-msgs trajectory-msgs std-srvs diagnostic-msgs \
              rosgraph-msgs rmw-fastrtps-cpp
WORKSPACE_PKGS := dojo_description dojo_core dojo_ros dojo_sim dojo_hardware dojo_cameras dojo_recorder dojo_ik dojo_policy dojo_eval dojo_bringup
# Data-only packages (share/ files): installed as copies, the others editable.
DATA_PKGS := dojo_description dojo_bringup
PKG_FILES := $(foreach p,$(WORKSPACE_PKGS),src/$(p)/setup.py src/$(p)/setup.cfg src/$(p)/package.xml)
SHARE_FILES := $(shell find launch config urdf -type f 2>/dev/null)

# Keep DDS discovery on this machine; tests and the demo pick their own ROS_DOMAIN_ID.
export ROS_AUTOMATIC_DISCOVERY_RANGE ?= LOCALHOST
export RMW_IMPLEMENTATION ?= rmw_fastrtps_cpp
# Camera frames over a large shared-memory segment, UDP on loopback only (see the profile).
export FASTRTPS_DEFAULT_PROFILES_FILE ?= $(CURDIR)/config/dds/fastdds_local_large_data.xml
export MUJOCO_GL ?= egl
export PYTHONUNBUFFERED := 1

.PHONY: all setup demo test test-fast lint pytest colcon benchmark clean
all: test

setup: $(VENV)/.deps $(VENV)/.workspace

# Third-party dependencies: torch first (pinned local CPU build, so nothing pulls CUDA), then ROS.
$(VENV)/.deps: requirements.txt Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) torch==2.13.0
	$(PIP) $(addprefix ros-$(ROS_DISTRO)-,$(ROS_WHEELS))
	$(PIP) -r requirements.txt
	touch $@

# The workspace packages: editable for the Python code; share/ files (urdf, launch, config) are
# copied into the venv prefix by dojo_description and dojo_bringup, hence the dependency on them.
$(VENV)/.workspace: $(VENV)/.deps $(PKG_FILES) $(SHARE_FILES)
	$(PIP) --no-deps --no-build-isolation $(addprefix -e src/,$(filter-out $(DATA_PKGS),$(WORKSPACE_PKGS)))
	$(PIP) --no-deps --no-build-isolation --force-reinstall $(addprefix src/,$(DATA_PKGS))
	touch $@

demo: setup
	ROS_DOMAIN_ID=$${ROS_DOMAIN_ID:-$$(( $$$$ % 100 + 1 ))} \
		$(VENV)/bin/dojo demo $(if $(filter-out 0 no false,$(QUICK)),--quick --out outputs/quick,--out outputs)

pytest: setup
	$(PY) -m pytest tests

# The quick loop while developing: everything but the tests marked slow (real-time runs, subprocesses).
test-fast: setup
	$(PY) -m pytest tests -m "not slow"

# The package layering (.importlinter): dojo_core stays ROS-free, dependencies point one way.
lint: setup
	$(VENV)/bin/lint-imports --no-cache --no-logo

colcon: setup
	rm -rf build/colcon
	$(VENV)/bin/colcon --log-base build/colcon/log build --base-paths src \
		--build-base build/colcon/build --install-base build/colcon/install
	test -f build/colcon/install/dojo_bringup/share/dojo_bringup/urdf/so101.urdf.xacro
	test -f build/colcon/install/dojo_description/share/dojo_description/urdf/so101.urdf.xacro
	test -f build/colcon/install/dojo_sim/lib/dojo_sim/sim_node

test: lint pytest colcon

benchmark: setup
	$(PY) benchmarks/sim_rate.py

clean:
	rm -rf build outputs .pytest_cache
