# PBX build. `make` builds build/pbx; `make test` builds the sanitizer
# flavour and runs every test; `make run` installs, builds and starts.
# SPDX-License-Identifier: GPL-2.0-or-later

VERSION  := 0.1.0
CC       ?= cc
CLANG    ?= clang
PYTHON   ?= /usr/bin/python3

# Debian packages the build, the tests and the benchmarks need.
DEB_PKGS := build-essential pkg-config libuv1-dev liblua5.4-dev \
            libsqlite3-dev libedit-dev libssl-dev libcmocka-dev \
            python3-pytest python3-pexpect sip-tester baresip \
            clang libclang-rt-14-dev clang-format cppcheck sqlite3 \
            libsndfile1-dev libspeexdsp-dev espeak-ng sox libsrtp2-dev \
            openssl wireshark-common libopus-dev libspandsp-dev liburing-dev \
            libcurl4-openssl-dev python3-aiosmtpd python3-matplotlib

PKGS     := libuv lua5.4 sqlite3 libedit libcrypto libssl sndfile speexdsp libsrtp2 opus spandsp \
            liburing libcurl
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
            -Wmissing-prototypes -Wno-unused-parameter -Wformat=2 \
            -Wno-format-nonliteral
BASE_CFLAGS := -std=gnu11 -D_GNU_SOURCE -DPBX_VERSION='"$(VERSION)"' \
            -DPBX_SOUNDS_DIR='"$(CURDIR)/sounds"' \
            -Ipbx/include $(WARN) $(PKG_CFLAGS)
CFLAGS   ?= -O2 -g
SAN      := -fsanitize=address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=undefined
LDLIBS   := $(PKG_LIBS) -lpthread -lm

# Every module folder is picked up by wildcard: a new file needs no edit here.
CORE_SRC := $(wildcard pbx/*.c)
MOD_SRC  := $(wildcard channels/*/*.c apps/*.c dialplan/*.c)
LIB_SRC  := $(filter-out pbx/main.c,$(CORE_SRC)) $(MOD_SRC)
UNIT_SRC := $(wildcard tests/unit/*.c)
HDRS     := $(wildcard pbx/*.h pbx/include/pbx/*.h channels/*/*.h apps/*.h dialplan/*.h tests/unit/*.h)

OBJ      := $(patsubst %.c,build/obj/%.o,$(LIB_SRC))
ASAN_OBJ := $(patsubst %.c,build/asan/obj/%.o,$(LIB_SRC))
UNIT_OBJ := $(patsubst %.c,build/asan/obj/%.o,$(UNIT_SRC))

.PHONY: all deps run test unit integration fuzz fuzz-long fuzz-smoke bench bench-overload soak \
        check clean sounds

# `make V=1` shows full command lines.
Q := $(if $(V),,@)

all: build/pbx

build/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC      $<")
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -c $< -o $@

build/asan/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC asan $<")
	$(Q)$(CC) $(BASE_CFLAGS) -O1 -g $(SAN) -Itests/unit -c $< -o $@

build/pbx: build/obj/pbx/main.o $(OBJ)
	@$(if $(V),,echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

build/asan/pbx: build/asan/obj/pbx/main.o $(ASAN_OBJ)
	@$(if $(V),,echo "  LD asan $@")
	$(Q)$(CC) $(SAN) $^ -o $@ $(LDLIBS)

build/asan/unit: $(UNIT_OBJ) $(ASAN_OBJ)
	@$(if $(V),,echo "  LD asan $@")
	$(Q)$(CC) $(SAN) $^ -o $@ $(LDLIBS) -lcmocka

deps:
	@missing=$$(for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
	  sudo=; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  echo "Installing:" $$missing; \
	  $$sudo apt-get update -qq && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else echo "All build and test packages are installed."; fi

run: deps build/pbx
	@mkdir -p var
	build/pbx -f -c etc/pbx.lua

unit: build/asan/unit
	ASAN_OPTIONS=detect_leaks=1 build/asan/unit

integration: build/asan/pbx
	PBX_BIN=$(CURDIR)/build/asan/pbx $(PYTHON) -m pytest -q tests/integration

test: build/pbx check unit fuzz-smoke integration

include tests/fuzz/fuzz.mk

# Benchmarks: tests/bench/bench_<name>.c link against the optimised objects.
BENCH_SRC := $(wildcard tests/bench/bench_*.c)
BENCH_BIN := $(patsubst tests/bench/%.c,build/bench/%,$(BENCH_SRC))
build/bench/%: tests/bench/%.c $(OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -Itests/bench $^ -o $@ $(LDLIBS)

check:
	@tests/check-style.sh

# The prompts are committed; this remakes them after sounds/make-sounds.sh changes.
sounds:
	sounds/make-sounds.sh

bench: build/pbx $(BENCH_BIN)
	@tests/bench/run.sh

# Not part of `make bench` (about 30 minutes at the defaults): the PBX at
# 0.5-3x the highest rate it sustains, and a long steady load with leak
# checks. Options: `make soak SOAK_ARGS="--minutes 60 --max 9000"`.
bench-overload: build/pbx
	$(PYTHON) tests/bench/overload.py $(OVERLOAD_ARGS)

soak: build/pbx
	$(PYTHON) tests/soak/soak.py $(SOAK_ARGS)

clean:
	rm -rf build
