# SPDX-License-Identifier: GPL-2.0-or-later
# Convenience targets around meson/ninja and the test suite.
#
#   make deps    install the Debian packages needed to build and test
#                (apt-get, only when something is missing)
#   make build   configure (once) and build in $(BUILD)
#   make check   deps + build, then tests/run.sh (T=t0003 runs a subset)
#   make demo    deps + build, then tests/demo.sh: a backup/restore walkthrough
#   make bench   deps + build, then bench/compare.sh
#   make media   deps + build, then $(BUILD)/lifeboat-rescue.iso (MEDIA_OPTS; RUN_MEDIA_TESTS=0: check skips tests/media)
#   make clean   remove $(BUILD)

SHELL := /bin/bash
BUILD ?= build
T ?=

# Build: compiler, meson, libraries. Tests: filesystems, loop devices,
# partitioning, /usr/bin/time, python3 (JSON checks). Bench: partclone,
# fsarchiver.
DEPS := build-essential attr meson ninja-build pkg-config libzstd-dev libssl-dev libjson-c-dev \
	zstd e2fsprogs util-linux fdisk time python3 xfsprogs dosfstools mtools ntfs-3g \
	btrfs-progs fuse3 libfuse3-dev fusefat libext2fs-dev libblkid-dev libfdisk-dev partclone fsarchiver
DEPS += xorriso isolinux syslinux-common grub-efi-amd64-bin grub-common mtools dosfstools busybox-static cpio kmod qemu-system-x86 ovmf linux-image-amd64
export RUN_MEDIA_TESTS ?= 1

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps build check demo bench clean

all: build

deps:
	@missing=$$(for p in $(DEPS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' || echo $$p; \
	done); \
	if [ -z "$$missing" ]; then \
		echo "deps: all $(words $(DEPS)) packages are installed"; \
	else \
		echo "deps: installing" $$missing; \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

build:
	@if [ ! -f $(BUILD)/build.ninja ]; then meson setup $(BUILD); fi
	ninja -C $(BUILD)

check: deps build
	bash tests/run.sh $(T)

demo: deps build
	bash tests/demo.sh

bench: deps build
	@if [ ! -x bench/compare.sh ] && [ ! -f bench/compare.sh ]; then \
		echo "bench: bench/compare.sh does not exist yet" >&2; exit 1; fi
	bash bench/compare.sh

.PHONY: media
media: deps build
	$(BUILD)/src/cli/lifeboat media create --output $(BUILD)/lifeboat-rescue.iso $(MEDIA_OPTS)

clean:
	rm -rf $(BUILD)
