# Fuzz targets (issue 7), included by the top Makefile: one libFuzzer target
# per parser that reads outside bytes (tests/fuzz/fuzz_<target>.c), built
# with clang into $(FUZZ_BUILD), objects under $(FUZZ_BUILD)/obj, so the
# normal build is untouched.
#
#   make fuzz [FUZZ_SECONDS=60] [FUZZ_JOBS=2] [FUZZ_TARGETS="resp ..."]
#       fuzz each target for FUZZ_SECONDS, FUZZ_JOBS at a time; new corpus
#       entries go to $(FUZZ_BUILD)/corpus-<target>, crash reproducers to
#       $(FUZZ_BUILD)/artifacts/<target>/; non-zero exit on a crash
#   make fuzz-regress
#       run each target once over tests/fuzz/corpus/<target>/ and
#       tests/fuzz/crashes/<target>/ (minimized reproducers): fast
#   make fuzz-corpus
#       regenerate the seed corpus tests/fuzz/corpus/ with the real encoders
#
# A crash: replay it with `build/fuzz/<target> FILE`, shrink it with
# `build/fuzz/<target> -minimize_crash=1 -runs=100000 FILE`, and keep the
# result in tests/fuzz/crashes/<target>/ next to its regression test in
# tests/unit/test_fuzz_regressions.c. Each target's input format is in the
# comment at the top of its file.

FUZZ_CC ?= clang
FUZZ_BUILD ?= $(BUILD)/fuzz
FUZZ_OBJ := $(FUZZ_BUILD)/obj
FUZZ_SECONDS ?= 60
FUZZ_JOBS ?= 2
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS := $(WARN) -O1 -g -fno-omit-frame-pointer -DRKV_DEBUG \
	$(FUZZ_SAN) -fsanitize=fuzzer-no-link -Iinclude -Isrc -MMD -MP

FUZZ_ALL := http_request http_json resp peer_msg peer_handshake wal_record \
	wal_replay kv_snapshot kv_cmd config_nodes raft_step
FUZZ_TARGETS ?= $(FUZZ_ALL)

# What each target links besides its own file and FUZZ_COMMON.
FUZZ_COMMON := tests/fuzz/fuzz_util.c src/storage/crc32c.c
FUZZ_HTTP := src/net/http.c src/net/json.c src/util/buf.c src/util/err.c
FUZZ_WAL := src/storage/wal.c src/storage/wal_replay.c \
	src/storage/wal_record.c src/storage/disk_posix.c \
	src/storage/errmsg.c src/util/buf.c src/util/err.c
FUZZ_KV := $(wildcard src/kv/*.c) src/util/err.c

fuzz_src_http_request := $(FUZZ_HTTP)
fuzz_lib_http_request := -lhttp_parser -ljansson
fuzz_src_http_json := $(FUZZ_HTTP)
fuzz_lib_http_json := -lhttp_parser -ljansson
fuzz_src_resp := src/net/resp.c src/util/buf.c src/util/err.c
fuzz_src_peer_msg := src/net/peer_codec.c
fuzz_src_peer_handshake := src/net/peer_codec.c
fuzz_src_wal_record := src/storage/wal_record.c src/storage/errmsg.c \
	src/util/err.c
fuzz_src_wal_replay := $(FUZZ_WAL)
fuzz_src_kv_snapshot := $(FUZZ_KV)
fuzz_lib_kv_snapshot := -llmdb
fuzz_src_kv_cmd := $(FUZZ_KV)
fuzz_lib_kv_cmd := -llmdb
fuzz_src_config_nodes := src/server/config.c src/util/err.c
fuzz_src_raft_step := src/net/peer_codec.c $(wildcard src/raft/*.c)
# The seed generator writes real encoders' output.
fuzz_src_gen_corpus := src/net/peer_codec.c $(FUZZ_WAL) $(FUZZ_KV)
fuzz_lib_gen_corpus := -llmdb

fuzz_objs = $(patsubst %.c,$(FUZZ_OBJ)/%.o,$(sort $(1)))

# As in the normal build, the core and storage add -Wconversion.
$(FUZZ_OBJ)/src/raft/%.o: src/raft/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(STRICT) -c $< -o $@
$(FUZZ_OBJ)/src/storage/%.o: src/storage/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(STRICT) -c $< -o $@
$(FUZZ_OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

define fuzz_target
$(FUZZ_BUILD)/$(1): $$(call fuzz_objs,tests/fuzz/fuzz_$(1).c $(FUZZ_COMMON) $$(fuzz_src_$(1)))
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $$@ $$^ $$(fuzz_lib_$(1))
endef
$(foreach t,$(FUZZ_ALL),$(eval $(call fuzz_target,$(t))))

$(FUZZ_BUILD)/gen-corpus: $(call fuzz_objs,tests/fuzz/gen_corpus.c src/storage/crc32c.c $(fuzz_src_gen_corpus))
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -o $@ $^ $(fuzz_lib_gen_corpus)

.PHONY: fuzz fuzz-build fuzz-regress fuzz-corpus
fuzz-build: $(addprefix $(FUZZ_BUILD)/,$(FUZZ_TARGETS))

fuzz: fuzz-build
	@tests/fuzz/run.sh fuzz $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_JOBS) $(FUZZ_TARGETS)

fuzz-regress: fuzz-build
	@tests/fuzz/run.sh regress $(FUZZ_BUILD) 0 $(FUZZ_JOBS) $(FUZZ_TARGETS)

fuzz-corpus: $(FUZZ_BUILD)/gen-corpus
	rm -rf tests/fuzz/corpus
	$(FUZZ_BUILD)/gen-corpus tests/fuzz/corpus

-include $(shell find $(FUZZ_OBJ) -name '*.d' 2>/dev/null)
