# raftkv build. `make` builds release binaries into build/; `make test`
# builds the ASan+UBSan flavour into build/asan/ and runs every test.
# MODE=release|debug|asan selects the flavour of a plain `make`.

MODE ?= release
CC ?= cc
ifeq ($(MODE),release)
BUILD ?= build
else
BUILD ?= build/$(MODE)
endif
OBJ := $(BUILD)/obj

WARN := -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Wpedantic -Werror \
	-Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wold-style-definition \
	-Wformat=2 -Wimplicit-fallthrough -Wcast-align -Wvla -Wundef -fno-common
STRICT := -Wconversion -Wsign-conversion
MODE_release := -O2 -g
MODE_debug := -O0 -g -DRKV_DEBUG
MODE_asan := -O1 -g -DRKV_DEBUG -fsanitize=address,undefined \
	-fno-sanitize-recover=all -fno-omit-frame-pointer
CFLAGS_ALL := $(WARN) $(MODE_$(MODE)) -Iinclude -Isrc -MMD -MP $(EXTRA_CFLAGS)
LDFLAGS_ALL := $(filter -fsanitize% -g,$(MODE_$(MODE))) $(EXTRA_LDFLAGS)

CORE_SRC := $(wildcard src/raft/*.c)
UTIL_SRC := $(wildcard src/util/*.c)
STORAGE_SRC := $(wildcard src/storage/*.c)
KV_SRC := $(wildcard src/kv/*.c)
NET_SRC := $(wildcard src/net/*.c)
SERVER_SRC := $(filter-out src/server/main.c,$(wildcard src/server/*.c))
SIM_SRC := $(wildcard tests/sim/*.c)
UNIT_SRC := $(wildcard tests/unit/*.c) $(wildcard tests/unit/lib/*.c)
CLI_SRC := $(filter-out src/cli/main.c,$(wildcard src/cli/*.c))

objs = $(patsubst %.c,$(OBJ)/%.o,$(1))
LIBS := -llmdb -luv -lhttp_parser -ljansson -lpthread

PROGS := $(BUILD)/raftkv-sim $(BUILD)/unit-tests
ifneq ($(wildcard src/server/main.c),)
PROGS += $(BUILD)/raftkv
endif
ifneq ($(wildcard src/cli/*.c),)
PROGS += $(BUILD)/raftkv-cli
endif
ifneq ($(wildcard bench/walbench.c),)
PROGS += $(BUILD)/raftkv-walbench
endif

.PHONY: all progs deps cluster bench failover-bench nemesis test sim-long mutation check-core-deps fmt fmt-check clean
all: deps
	@$(MAKE) --no-print-directory progs

progs: $(PROGS)

# Debian packages the build and tests need; installs only what is missing.
deps:
	@scripts/install-deps.sh

# The core and storage are held to -Wconversion as well.
$(OBJ)/src/raft/%.o: src/raft/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(STRICT) -c $< -o $@
$(OBJ)/src/storage/%.o: src/storage/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(STRICT) -c $< -o $@
$(OBJ)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/raftkv-sim: $(call objs,$(SIM_SRC) $(CORE_SRC) $(UTIL_SRC) $(STORAGE_SRC))
	$(CC) $(LDFLAGS_ALL) -o $@ $^

$(BUILD)/unit-tests: $(call objs,$(UNIT_SRC) $(CORE_SRC) $(UTIL_SRC) $(STORAGE_SRC) $(KV_SRC) $(NET_SRC) $(SERVER_SRC) $(CLI_SRC))
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(BUILD)/raftkv: $(call objs,src/server/main.c $(SERVER_SRC) $(NET_SRC) $(KV_SRC) $(STORAGE_SRC) $(CORE_SRC) $(UTIL_SRC))
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

$(BUILD)/raftkv-cli: $(call objs,src/cli/main.c $(CLI_SRC) src/server/config.c $(UTIL_SRC))
	$(CC) $(LDFLAGS_ALL) -o $@ $^ -lhttp_parser -ljansson

$(BUILD)/raftkv-walbench: $(call objs,bench/walbench.c $(STORAGE_SRC) $(UTIL_SRC))
	$(CC) $(LDFLAGS_ALL) -o $@ $^ -lpthread

# Every test, under ASan+UBSan; the last line is "N passed, N failed".
test: deps
	@$(MAKE) -s --no-print-directory MODE=asan progs
	@$(MAKE) -s --no-print-directory MODE=release progs
	@tests/run-all.sh

sim-long: deps
	@$(MAKE) --no-print-directory MODE=release progs
	./build/raftkv-sim --seeds 1-100000 --nodes 3
	./build/raftkv-sim --seeds 1-100000 --nodes 5

# A local cluster in the foreground: `make cluster` (3 nodes) or N=5.
N ?= 3
cluster: all
	@scripts/cluster.sh $(N)

# Side by side with etcd and Redis (issue 6); writes bench/RESULTS.md.
# QUICK=1 for a ~2 min run; PROFILE=1 adds a perf profile of the leader.
bench: all
	@bench/bench.sh

# Failover time of a 3-node cluster: kill -9 the leader 10 times (a figure).
failover-bench: all
	@python3 bench/failover.py

# Jepsen-style fault test (issue 7): 5 minutes of mixed faults on the asan
# build, then the linearizability check; SEED=N picks the fault schedule.
SEED ?= 1
nemesis: deps
	@$(MAKE) -s --no-print-directory MODE=asan progs
	@tests/nemesis/nemesis.py --duration 300 --seed $(SEED)

# Build the simulator with one planted bug and check the sweep catches it.
mutation:
	@tests/sim/mutation.sh

# The pure core may include only libc headers and the public raft header.
check-core-deps:
	@bad=$$(grep -hE '^#include' $(filter-out src/raft/assert.c,$(wildcard src/raft/*.[ch])) | \
		grep -vE '^#include <(assert|inttypes|limits|stdarg|stdbool|stddef|stdint|stdio|stdlib|string)\.h>' | \
		grep -vE '^#include "(raftkv/raft\.h|raftkv/err\.h|[a-z_]+\.h)"'); \
	if [ -n "$$bad" ]; then echo "core includes forbidden headers:"; echo "$$bad"; exit 1; fi; \
	loc=$$(grep -lE '"\.\./|"(storage|kv|net|server)/' src/raft/*.[ch] || true); \
	if [ -n "$$loc" ]; then echo "core reaches outside src/raft: $$loc"; exit 1; fi; \
	if grep -nE '\b(rand|srand|time|clock_gettime|gettimeofday|fopen|open|read|write|printf|fprintf|puts|malloc|realloc|free)\s*\(' $(filter-out src/raft/assert.c src/raft/raft.c,$(wildcard src/raft/*.c)); then \
		echo "core calls the world"; exit 1; fi; \
	echo "core dependencies: ok"

FMT_SRC = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
fmt:
	clang-format -i $(FMT_SRC)
fmt-check:
	@clang-format --dry-run --Werror $(FMT_SRC) && echo "format: ok"

clean:
	rm -rf build

# Fuzz targets (issue 7): `make fuzz FUZZ_SECONDS=60`.
-include tests/fuzz/fuzz.mk

-include $(shell find $(OBJ) -name '*.d' 2>/dev/null)
