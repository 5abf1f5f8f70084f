# Fuzz targets: one per parser, tests/fuzz/fuzz_<name>.c, seeds in
# tests/fuzz/corpus/<name>/, deps in FUZZ_DEPS_<name> below. `make fuzz
# FUZZ_SECONDS=300` runs each for that long; `make fuzz-long` runs each for
# FUZZ_LONG_SECONDS (an hour each, so a night for all of them); `make
# test` runs each for FUZZ_SMOKE_SECONDS and fails on any crash. What a
# run finds is kept in build/fuzz/corpus/<name>/ for the next; a crash
# leaves its input as ./crash-<hash>, to add to the seeds once fixed.
FUZZ_SECONDS ?= 300
FUZZ_LONG_SECONDS ?= 3600
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN  := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))
FUZZ_CFLAGS := -std=gnu11 -D_GNU_SOURCE -g -O1 -Ipbx/include \
               -DPBX_SOUNDS_DIR='"$(CURDIR)/sounds"' -DPBX_VERSION='"$(VERSION)"' \
               -fsanitize=fuzzer,address,undefined $(PKG_CFLAGS)

build/fuzz/%: tests/fuzz/%.c $(HDRS) $(LIB_SRC)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) $< $(FUZZ_DEPS_$(patsubst fuzz_%,%,$*)) -o $@ $(LDLIBS)

fuzz: $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do n=$${f#build/fuzz/fuzz_}; \
	  mkdir -p build/fuzz/corpus/$$n; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -max_len=8192 build/fuzz/corpus/$$n tests/fuzz/corpus/$$n || exit 1; done

fuzz-long: $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do n=$${f#build/fuzz/fuzz_}; \
	  mkdir -p build/fuzz/corpus/$$n; \
	  $$f -max_total_time=$(FUZZ_LONG_SECONDS) -max_len=8192 build/fuzz/corpus/$$n tests/fuzz/corpus/$$n || exit 1; done

fuzz-smoke: $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do n=$${f#build/fuzz/fuzz_}; \
	  mkdir -p build/fuzz/corpus/$$n; \
	  echo "fuzz $$n for $(FUZZ_SMOKE_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SMOKE_SECONDS) -max_len=8192 -print_final_stats=0 \
	      build/fuzz/corpus/$$n tests/fuzz/corpus/$$n >build/fuzz/$$n.log 2>&1 \
	    || { tail -40 build/fuzz/$$n.log; exit 1; }; done
FUZZ_DEPS_sip_auth := channels/sip/sip_auth.c pbx/hash.c
FUZZ_DEPS_sip_msg := channels/sip/sip_msg.c channels/sip/sip_uri.c
FUZZ_DEPS_sip_uri := channels/sip/sip_uri.c
FUZZ_DEPS_sip_refer_to := channels/sip/sip_msg.c channels/sip/sip_uri.c
FUZZ_DEPS_sip_sdp := channels/sip/sip_sdp.c pbx/buf.c pbx/codec.c pbx/codec_g711.c \
                     pbx/codec_g722.c pbx/codec_opus.c pbx/g711.c
FUZZ_DEPS_sip_pidf := channels/sip/sip_pidf.c
FUZZ_DEPS_cli := pbx/cli.c pbx/buf.c
FUZZ_DEPS_config := pbx/config.c pbx/buf.c pbx/log.c pbx/net.c pbx/core_config.c \
                    pbx/media_config.c pbx/codec.c pbx/codec_g711.c pbx/codec_g722.c \
                    pbx/codec_opus.c pbx/g711.c pbx/frame.c pbx/hash.c \
                    channels/sip/sip_config.c channels/sip/sip_ban.c \
                    apps/dial_features.c apps/conf_opts.c
# The RTP parser sits in the media engine, whose files call each other:
# the target links the whole core (not the drivers) and uses two pure
# functions of it.
FUZZ_DEPS_rtp := $(filter-out pbx/main.c,$(CORE_SRC))
