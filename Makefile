# Tern build. `make lab` stands the whole network up in namespaces with the
# real daemons; `make test` runs every test. Both install what they need.
SHELL := /bin/bash
.DEFAULT_GOAL := build

# Debian packages the build, the lab and the tests use. `make deps` installs
# only the missing ones, without recommends (they drag in kernels).
DEBS := nftables iptables iproute2 procps systemd fping iperf3 tcpdump socat keepalived librsvg2-bin curl nsd bind9-dnsutils \
        wireguard-go wireguard-tools libnetfilter-queue-dev libnetfilter-conntrack-dev libmnl-dev nmap

NATIVE := native/tern.node
RELAY := test/lab/relay/target/release/tern-lab-relay
NATIVE_SRC := $(shell find native/src -name '*.rs' 2>/dev/null) native/Cargo.toml
RELAY_SRC := $(shell find test/lab/relay/src -name '*.rs' 2>/dev/null) test/lab/relay/Cargo.toml

.PHONY: deps debs npm build ts native relay test lab lab-check bench clean distclean

# The appliance image (image/README.md). Its host tools are installed by the
# image targets and by `make test`, whose suite builds and boots the image.
ARCH ?= amd64
IMAGE_DEBS := mmdebstrap qemu-system-x86 ovmf qemu-user-static binfmt-support arch-test \
              dosfstools mtools fdisk squashfs-tools e2fsprogs file

.PHONY: image image-deps image-test image-test-arm64

deps: debs npm native relay

debs:
	@missing=$$(for p in $(DEBS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing Debian packages:" $$missing; \
	  if [ "$$(id -u)" != 0 ]; then echo "deps: need root to install $$missing" >&2; exit 1; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y --no-install-recommends $$missing >/dev/null 2>&1 || \
	    { apt-get update -qq && apt-get install -y --no-install-recommends $$missing; }; \
	fi

# npm ci only when the lock changed since the last install.
npm: node_modules/.tern-stamp
node_modules/.tern-stamp: package-lock.json package.json
	npm ci --no-audit --no-fund
	@touch $@

native: $(NATIVE)
$(NATIVE): $(NATIVE_SRC) node_modules/.tern-stamp
	node_modules/.bin/napi build --cwd native --release
	@test -f $@ || { echo "native: build produced no $@" >&2; exit 1; }

relay: $(RELAY)
$(RELAY): $(RELAY_SRC)
	cargo build --quiet --release --manifest-path test/lab/relay/Cargo.toml

ts: node_modules/.tern-stamp
	rm -rf dist
	node_modules/.bin/tsc -p tsconfig.json

build: deps ts

test: build
	@$(MAKE) --no-print-directory image-deps ARCH=amd64
	bash test/run.sh

lab: build
	node dist/test/lab/cli.js up

lab-check: build
	node dist/test/lab/cli.js up --check

bench: build
	bash test/bench/run.sh

image-deps:
	@$(MAKE) --no-print-directory debs DEBS="$(IMAGE_DEBS)"
	@# qemu-user-static registers its binfmt handlers through binfmt-support;
	@# a container may need binfmt_misc mounted first.
	@if [ "$(ARCH)" != "$$(dpkg --print-architecture)" ]; then \
	  [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; \
	  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true; \
	  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || { echo "image-deps: no qemu-aarch64 binfmt handler" >&2; exit 1; }; \
	fi

image: build image-deps
	bash image/build.sh $(ARCH)

# Boots the amd64 image in QEMU (TCG, OVMF) and runs its smoke test.
image-test:
	@$(MAKE) --no-print-directory image ARCH=amd64
	bash test/image/boot.sh image/out/amd64/tern-amd64.img

# Builds the arm64 image and checks its root slot through qemu-user.
image-test-arm64:
	@$(MAKE) --no-print-directory image ARCH=arm64
	bash test/image/check-rootfs.sh image/out/arm64/tern-arm64.img arm64

clean:
	rm -rf dist .test-out

distclean: clean
	rm -rf node_modules native/target native/*.node test/lab/relay/target
