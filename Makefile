# ripc — build, test, benchmark, install.  `make help` lists the targets.
PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
CARGO   ?= cargo
CFLAGS  ?= -O2 -g
WARN    := -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE
# The articles' programs are compiled exactly as printed: legacy code, so
# no -Werror (seed 000 prints a long with %d).
LEGACY  := -std=gnu11 -w
PROVE   ?= prove
JOBS    ?= 2

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
SONAME  := libripc.so.0
LIBDIR  := target/release
SO      := $(LIBDIR)/libripc.so
ARCHIVE := $(LIBDIR)/libripc.a
B       := build
CPPFLAGS += -Iinclude
# The programs built here find target/release/libripc.so.0 through an rpath
# (quoted for the shell: the checkout's path may hold spaces). A DT_RPATH,
# not the DT_RUNPATH the linker makes by default: the loader searches it
# before LD_LIBRARY_PATH, so the tests run this build's library even when
# LD_LIBRARY_PATH leads to another libripc.so.0 (an installed one).
RPATH   := -Wl,--disable-new-dtags '-Wl,-rpath,$(abspath $(LIBDIR))'
LDLIBS  := -L$(LIBDIR) $(RPATH) -lripc -lpthread -ldl -lm
TOOLS   := ripcs ripcrm ripcmk

TEST_SRC := $(wildcard c_tests/t_*.c)
TEST_BIN := $(patsubst c_tests/%.c,$(B)/c_tests/%,$(TEST_SRC))
TEST_SH  := $(wildcard c_tests/t_*.sh)
ART_SRC  := $(wildcard c_tests/articles/*.c)
ART_BIN  := $(patsubst c_tests/articles/%.c,$(B)/articles/%,$(ART_SRC))
EX_SRC   := $(wildcard examples_c/*.c)
EX_BIN   := $(patsubst examples_c/%.c,$(B)/examples/%,$(EX_SRC))
BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(patsubst bench/%.c,$(B)/bench/%,$(BENCH_SRC))
HEADERS  := include/ripc.h include/ripc_sysv.h

.PHONY: all lib header demo deps test test-rust test-c memcheck bench install uninstall clean help lint

all: lib $(EX_BIN) $(ART_BIN) $(TEST_BIN)

help:
	@echo "make            library (target/release/libripc.{so,a}), examples, tools"
	@echo "make demo       the articles' scenarios end to end (default namespace)"
	@echo "make test       Rust tests, then the C suite under both backends"
	@echo "make bench      ripc against the kernel, as ratios"
	@echo "make install PREFIX=/dir [DESTDIR=…]"
	@echo "make header     regenerate include/ripc.h with cbindgen"
	@echo "make lint       clippy -D warnings and rustfmt --check"
	@echo "make memcheck   a subset of the C suite under valgrind (slow)"

lib: $(SO) $(ARCHIVE)

$(SO) $(ARCHIVE): Cargo.toml build.rs cbindgen.toml $(shell find src -name '*.rs')
	$(CARGO) build --release
	@ln -sf libripc.so $(LIBDIR)/$(SONAME)
	@touch $(SO) $(ARCHIVE)

header:
	RIPC_WRITE_HEADER=1 $(CARGO) build --release

$(B)/c_tests/%: c_tests/%.c c_tests/tap.h $(HEADERS) $(SO)
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) -Ic_tests -o $@ $< $(LDLIBS)

$(B)/articles/%: c_tests/articles/%.c include/ripc_sysv.h $(SO)
	@mkdir -p $(@D)
	$(CC) $(LEGACY) $(CFLAGS) $(CPPFLAGS) -Ic_tests/articles -include ripc_sysv.h -o $@ $< $(LDLIBS)

$(B)/examples/%: examples_c/%.c $(HEADERS) $(SO)
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) -o $@ $< $(LDLIBS)

$(B)/bench/%: bench/%.c bench/bench.h $(HEADERS) $(SO)
	@mkdir -p $(@D)
	$(CC) $(WARN) -O2 $(CPPFLAGS) -o $@ $< $(LDLIBS)

demo: all
	@sh examples_c/demo.sh

test: test-rust test-c

# What the C suite needs beyond a compiler and cargo: prove (perl), ipcs
# (util-linux), pkg-config, nm/readelf (binutils). Installed with apt-get
# when missing and possible (a fresh Debian machine, as root); otherwise a
# clear message.
TEST_TOOLS := prove ipcs pkg-config nm readelf
deps:
	@missing=""; for t in $(TEST_TOOLS); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing test tools:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq perl util-linux pkg-config binutils >/dev/null; \
	  else echo "make test needs:$$missing (Debian: apt-get install perl util-linux pkg-config binutils)"; exit 1; fi; \
	fi

test-rust:
	$(CARGO) test --release

# Every C test runs twice, once per backend, each run in its own RIPC_DIR
# (c_tests/run1.sh checks that nothing is left behind).
test-c: deps all
	@ipcs -a > $(B)/ipcs.before 2>/dev/null || true
	$(PROVE) -j$(JOBS) --exec 'sh c_tests/run1.sh user' $(TEST_BIN) $(TEST_SH)
	$(PROVE) -j$(JOBS) --exec 'sh c_tests/run1.sh kernel' $(TEST_BIN) $(TEST_SH)
	@sh c_tests/check_kernel_clean.sh $(B)/ipcs.before

# Memory errors in the C tests or in the library they drive: valgrind on the
# tests that do not depend on timing (user backend, own namespace each).
# (Not the fuzz tests: they hand bad pointers to system calls on purpose,
# which valgrind reports.)
MEMCHECK ?= t_msg_semantics t_shm_basic t_shm_native t_sem_basic t_pipe_basic t_fifo_basic
memcheck: all
	@for t in $(MEMCHECK); do \
	  printf '%s: ' $$t; \
	  RIPC_VALGRIND=1 sh c_tests/run1.sh user "valgrind -q --error-exitcode=9 $(B)/c_tests/$$t" > $(B)/$$t.memcheck 2>&1 \
	    && echo clean || { echo "FAILED (see $(B)/$$t.memcheck)"; exit 1; }; \
	done

bench: all $(BENCH_BIN)
	@sh bench/run.sh

lint:
	$(CARGO) clippy --release --all-targets -- -D warnings
	$(CARGO) fmt --check

install: lib
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(SO) $(DESTDIR)$(PREFIX)/lib/libripc.so.$(VERSION)
	ln -sf libripc.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(PREFIX)/lib/libripc.so
	install -m 644 $(ARCHIVE) $(DESTDIR)$(PREFIX)/lib/libripc.a
	install -m 644 $(HEADERS) $(DESTDIR)$(PREFIX)/include/
	for t in $(TOOLS); do if [ -x $(LIBDIR)/$$t ]; then install -m 755 $(LIBDIR)/$$t $(DESTDIR)$(PREFIX)/bin/; fi; done
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' ripc.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/ripc.pc

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/lib/libripc.so* $(DESTDIR)$(PREFIX)/lib/libripc.a
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/include/,ripc.h ripc_sysv.h)
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/bin/,$(TOOLS)) $(DESTDIR)$(PREFIX)/lib/pkgconfig/ripc.pc

clean:
	$(CARGO) clean
	rm -rf $(B)
