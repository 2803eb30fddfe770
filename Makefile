# kue -- one plain, strict Makefile.
#
#   make                 binaries, libkue.a/.so, example plugins (in $(O))
#   make test            every test against private redis-servers (alias: check)
#   make test SANITIZE=address,undefined
#   make test KUE_TEST_PAR=N   N test binaries at a time (default 3; 1: one
#                        after another); KUE_TEST_FILTER=NAME: one binary
#   make run             supervisor + example plugins + embedded Redis + dashboard
#   make bench           benchmarks (never part of test)
#   make deps            install missing Debian packages (as root); the other
#                        targets only check and name what is missing
#   make V=1             show the full compiler commands
#   make install         PREFIX=/usr/local DESTDIR=
#   make fuzz / fuzz-ci  libFuzzer harnesses under fuzz/ (clang; docs/security.md)
#
# Build products go to $(O) (default build/, build-san/ with SANITIZE).

comma := ,
SANITIZE ?=
# Only the sanitizers the suite is run with are accepted.
SAN_OK := address undefined leak
ifneq ($(filter-out $(SAN_OK),$(subst $(comma), ,$(SANITIZE))),)
$(error SANITIZE=$(SANITIZE): unknown sanitizer; use a comma-separated list of: $(SAN_OK))
endif
ifeq ($(SANITIZE),)
O ?= build
else
O ?= build-san
endif

CC      ?= cc

# Quiet by default: "CC file"; V=1 prints the full commands.
ifeq ($(V),1)
Q :=
say = @:
else
Q := @
say = @printf '  %-6s %s\n' $(1) $(2);
endif
PREFIX  ?= /usr/local
DESTDIR ?=
OPT     ?= -O2

WARN    := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wno-unused-parameter -Werror
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -fPIC $(WARN) -Iinclude -Ilibkue -Icommon -I$(O)/gen -MMD -MP
LDFLAGS ?=
ifneq ($(SANITIZE),)
CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=$(SANITIZE)
endif

LIB_LIBS  := -lhiredis -ljansson -lev -lm
SUP_LIBS  := -ldl
WEB_LIBS  := -lmicrohttpd -lpthread
TEST_LIBS := -lcriterion -ldl -lmicrohttpd -lpthread

# ---- sources ---------------------------------------------------------------
# libkue/: the public library (what include/kue/kue.h and async.h promise).
# common/: the programs' toolkit.  libkue.a/.so also carry the five toolkit
# modules the library itself uses (connections, log, buffers, JSON, util), with
# hidden visibility; the programs link the rest from libkue-common.a.
LIBKUE_SRC := $(wildcard libkue/*.c)
COMMON_SRC := $(wildcard common/*.c)
COMMON_IN_LIB := common/buf.c common/conn.c common/cronexpr.c common/json.c common/log.c common/util.c
LUA_SRC  := libkue/lua/prelude.lua $(filter-out libkue/lua/prelude.lua,$(sort $(wildcard libkue/lua/*.lua)))
SUP_SRC  := $(wildcard supervisor/*.c)
WRK_SRC  := $(filter-out worker/main.c,$(wildcard worker/*.c))
WEB_SRC  := $(filter-out web/main.c,$(wildcard web/*.c))
WEB_ASSETS := $(sort $(wildcard web/assets/*))
CLI_SRC  := $(wildcard cli/*.c)
PLG_SRC  := $(wildcard plugins/*.c)
TCOMMON  := $(wildcard tests/common/*.c)
TESTS_SRC := $(sort $(wildcard tests/unit/*.c tests/integration/*.c))

obj = $(patsubst %.c,$(O)/obj/%.o,$(1))

LIB_OBJ  := $(call obj,$(LIBKUE_SRC) $(COMMON_IN_LIB)) $(O)/obj/gen/lua_scripts.o
TK_OBJ   := $(call obj,$(filter-out $(COMMON_IN_LIB),$(COMMON_SRC)))
SUP_OBJ  := $(call obj,$(SUP_SRC))
WRK_OBJ  := $(call obj,$(WRK_SRC))
WEB_OBJ  := $(call obj,$(WEB_SRC)) $(if $(WEB_ASSETS),$(O)/obj/gen/web_assets.o)
CLI_OBJ  := $(call obj,$(CLI_SRC))
TCOM_OBJ := $(call obj,$(TCOMMON))

BINS     := $(O)/bin/kue $(O)/bin/kue-supervisor $(O)/bin/kue-worker $(O)/bin/kue-web
PLUGINS  := $(patsubst plugins/%.c,$(O)/plugins/%.so,$(PLG_SRC))
TESTS    := $(patsubst tests/%.c,$(O)/tests/%,$(TESTS_SRC))

.PHONY: all check test run bench deps clean install lib plugins check-deps check-test-deps node-deps
# Keep intermediate objects (the test harness) between builds.
.SECONDARY:
all: $(O)/lib/libkue.a $(O)/lib/libkue.so $(BINS) $(PLUGINS) $(O)/kue.pc

lib: $(O)/lib/libkue.a $(O)/lib/libkue.so
plugins: $(PLUGINS)

# ---- generated sources -------------------------------------------------------
$(O)/gen/lua_scripts.c: $(LUA_SRC) scripts/embed.sh
	@mkdir -p $(dir $@)
	$(call say,GEN,$@)
	$(Q)sh scripts/embed.sh lua $@ $(LUA_SRC)

$(O)/gen/web_assets.c: $(WEB_ASSETS) scripts/embed.sh
	@mkdir -p $(dir $@)
	$(call say,GEN,$@)
	$(Q)sh scripts/embed.sh assets $@ $(WEB_ASSETS)

$(O)/obj/gen/%.o: $(O)/gen/%.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

$(O)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

# The library's objects export only what carries KUE_API.
$(LIB_OBJ): CFLAGS += -fvisibility=hidden

# ---- libkue -----------------------------------------------------------------
$(O)/lib/libkue.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(O)/lib/libkue.so: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) -shared -Wl,-soname,libkue.so.0 -Wl,--no-undefined -o $@ $^ $(LDFLAGS) $(LIB_LIBS)

$(O)/lib/libkue-common.a: $(TK_OBJ)
	@mkdir -p $(dir $@)
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(O)/kue.pc: scripts/kue.pc.in
	@mkdir -p $(dir $@)
	$(call say,GEN,$@)
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|g' $< > $@

# ---- programs ---------------------------------------------------------------
$(O)/bin/kue: $(CLI_OBJ) $(O)/lib/libkue.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) -o $@ $(CLI_OBJ) $(O)/lib/libkue.a $(LDFLAGS) $(LIB_LIBS)

$(O)/bin/kue-supervisor: $(SUP_OBJ) $(O)/lib/libkue-common.a $(O)/lib/libkue.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) -o $@ $(SUP_OBJ) $(O)/lib/libkue-common.a $(O)/lib/libkue.a $(LDFLAGS) $(SUP_LIBS) $(LIB_LIBS)

$(O)/bin/kue-worker: $(O)/obj/worker/main.o $(WRK_OBJ) $(O)/lib/libkue-common.a $(O)/lib/libkue.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) -o $@ $(O)/obj/worker/main.o $(WRK_OBJ) $(O)/lib/libkue-common.a $(O)/lib/libkue.a $(LDFLAGS) -ldl $(LIB_LIBS)

$(O)/bin/kue-web: $(O)/obj/web/main.o $(WEB_OBJ) $(O)/lib/libkue-common.a $(O)/lib/libkue.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) -o $@ $(O)/obj/web/main.o $(WEB_OBJ) $(O)/lib/libkue-common.a $(O)/lib/libkue.a $(LDFLAGS) $(WEB_LIBS) $(LIB_LIBS)

# Plugins link against nothing of kue (see include/kue/plugin.h).  The
# supervisor refuses plugins that group or others can write (whatever the
# umask), so the directory and files are made safe here.
$(O)/plugins/%.so: plugins/%.c include/kue/plugin.h
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) -shared -o $@ $< $(LDFLAGS) -ljansson -lev
	@chmod go-w $@ $(dir $@)

# ---- tests ------------------------------------------------------------------
# Every tests/{unit,integration}/NAME.c is one Criterion binary, linked with
# the shared harness, libkue, and archives of the worker and web objects (so
# units of those can be tested without a process; only what a test uses is
# pulled in).
$(O)/lib/libkue-worker.a: $(WRK_OBJ)
	@mkdir -p $(dir $@)
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(O)/lib/libkue-web.a: $(WEB_OBJ)
	@mkdir -p $(dir $@)
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(O)/tests/%: tests/%.c $(TCOM_OBJ) $(O)/lib/libkue-worker.a $(O)/lib/libkue-web.a \
              $(O)/lib/libkue-common.a $(O)/lib/libkue.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/common -DKUE_TEST_SANITIZE='"$(SANITIZE)"' -o $@ $< $(TCOM_OBJ) $(O)/lib/libkue-worker.a \
	    $(O)/lib/libkue-web.a $(O)/lib/libkue-common.a $(O)/lib/libkue.a $(LDFLAGS) $(TEST_LIBS) $(LIB_LIBS)

$(O)/obj/tests/%.o: CFLAGS += -Itests/common

# ---- fuzzing (docs/security.md) ---------------------------------------------
# clang's libFuzzer with ASan+UBSan; objects in build-fuzz/.  Each harness
# fuzz/NAME.c starts from the seed corpus fuzz/corpus/NAME (in the repo) and
# keeps what it finds in build-fuzz/corpus/NAME.
#   make fuzz                 build, then run each harness FUZZ_TIME s (60),
#                             FUZZ_PAR at a time (1; libFuzzer uses one core)
#   make fuzz-ci              30 s each, two at a time (CI, on 2 cores)
#   make fuzz FUZZ_TIME=3600  longer; or run build-fuzz/fuzz/NAME by hand
FUZZ_SRC  := $(sort $(wildcard fuzz/*.c))
FUZZ_NAMES := $(patsubst fuzz/%.c,%,$(FUZZ_SRC))
FUZZ_TIME ?= 60
FUZZ_PAR  ?= 1
ifeq ($(FUZZ),1)
CFLAGS += -fsanitize=fuzzer-no-link
endif

.PHONY: fuzz fuzz-ci fuzz-build fuzzers
fuzz-build:
	@command -v clang >/dev/null || { echo "make fuzz needs clang (apt-get install clang libclang-rt-14-dev)"; exit 1; }
	@$(MAKE) --no-print-directory O=build-fuzz CC=clang SANITIZE=address,undefined FUZZ=1 fuzzers

fuzzers: $(patsubst %,$(O)/fuzz/%,$(FUZZ_NAMES))

# libkue's kue_job_save is replaced by the harness's stub where it has one
# (first definition wins), so POST /job bodies are fuzzed without Redis.
$(O)/fuzz/%: fuzz/%.c $(O)/obj/supervisor/config.o $(O)/lib/libkue-web.a \
             $(O)/lib/libkue-common.a $(O)/lib/libkue.a
	@mkdir -p $(dir $@)
	$(call say,LD,$@)
	$(Q)$(CC) $(CFLAGS) -fsanitize=fuzzer -Isupervisor -Iweb -o $@ $< \
	    $(O)/obj/supervisor/config.o $(O)/lib/libkue-web.a $(O)/lib/libkue-common.a \
	    $(O)/lib/libkue.a -Wl,--allow-multiple-definition $(LDFLAGS) -ldl \
	    $(WEB_LIBS) $(LIB_LIBS)

fuzz: fuzz-build
	@printf '%s\n' $(FUZZ_NAMES) | xargs -n 1 -P $(FUZZ_PAR) sh scripts/fuzz-one.sh $(FUZZ_TIME)

fuzz-ci:
	@$(MAKE) --no-print-directory fuzz FUZZ_TIME=30 FUZZ_PAR=2

check-deps:
	@sh scripts/deps.sh check

check-test-deps:
	@sh scripts/deps.sh check test

node-deps:
	@sh scripts/node-deps.sh

check: test

# KUE_TEST_FILTER=name runs only tests/*/name.c binaries; KUE_TEST_PAR=N
# runs N binaries at a time (scripts/run-tests.sh; default 3), their
# output kept in $(O)/test-logs/.
test: check-test-deps all $(TESTS) node-deps
	@KUE_BUILD=$(abspath $(O)) sh scripts/run-tests.sh $(if $(KUE_TEST_FILTER),$(filter %/$(KUE_TEST_FILTER),$(TESTS)),$(TESTS))

run: check-deps all
	@mkdir -p $(O)/run
	$(O)/bin/kue-supervisor -c etc/run.ini

bench: check-deps all
	@KUE_BUILD=$(abspath $(O)) sh bench/run.sh $(if $(QUICK),--quick)

deps:
	@sh scripts/deps.sh install test

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	    $(DESTDIR)$(PREFIX)/include/kue $(DESTDIR)$(PREFIX)/lib/kue/plugins
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(O)/lib/libkue.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(O)/lib/libkue.so $(DESTDIR)$(PREFIX)/lib/libkue.so.0
	ln -sf libkue.so.0 $(DESTDIR)$(PREFIX)/lib/libkue.so
	install -m 644 include/kue/*.h $(DESTDIR)$(PREFIX)/include/kue/
	sed -e 's|@PREFIX@|$(PREFIX)|g' scripts/kue.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/kue.pc
	install -m 755 $(PLUGINS) $(DESTDIR)$(PREFIX)/lib/kue/plugins/
	install -d $(DESTDIR)$(PREFIX)/share/doc/kue/examples
	install -m 644 README.md docs/*.md $(DESTDIR)$(PREFIX)/share/doc/kue/
	install -m 644 etc/workers.ini etc/kue-supervisor.service examples/*.c \
	    $(DESTDIR)$(PREFIX)/share/doc/kue/examples/

clean:
	rm -rf build build-san build-clang build-fuzz

-include $(shell find $(O)/obj $(O)/tests $(O)/plugins $(O)/fuzz -name '*.d' 2>/dev/null)
