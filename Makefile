# ripc — build, test, benchmark, install.  `make help` lists the targets.
#
# Install locations, GNU style (each may be set on the command line):
#   make install PREFIX=/usr LIBDIR=/usr/lib/x86_64-linux-gnu DESTDIR=/tmp/stage
PREFIX       ?= /usr/local
DESTDIR      ?=
BINDIR       ?= $(PREFIX)/bin
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
DATADIR      ?= $(PREFIX)/share
MANDIR       ?= $(DATADIR)/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
BASHCOMPDIR  ?= $(DATADIR)/bash-completion/completions
INSTALL      ?= install
# Installed binaries and libraries are stripped; `make install STRIP=`
# (empty) keeps their debug information.
STRIP        ?= strip
CC      ?= cc
CARGO   ?= cargo
CFLAGS  ?= -O2 -g
WARN    := -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE
# The examples are what users copy: each defines the feature macros it
# needs itself, so they are compiled without -D_GNU_SOURCE.
EXWARN  := -std=c11 -Wall -Wextra -Werror
# The articles' programs are compiled exactly as printed: legacy code, so
# no -Werror (seed 000 prints a long with %d).
LEGACY  := -std=gnu11 -w
PROVE   ?= prove
JOBS    ?= 2

# The version has one source, Cargo.toml; the soname's major follows it
# (cargo-c derives the same one: Cargo.toml's version_suffix_components).
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
SOMAJOR := $(firstword $(subst ., ,$(VERSION)))
SONAME  := libripc.so.$(SOMAJOR)
# Where cargo puts what it builds (not an install location).
OUT     := target/release
SO      := $(OUT)/libripc.so
ARCHIVE := $(OUT)/libripc.a
B       := build
CPPFLAGS += -Iinclude
# The programs built here find target/release/libripc.so.0 through an rpath
# (quoted for the shell: the checkout's path may hold spaces). A DT_RPATH,
# not the DT_RUNPATH the linker makes by default: the loader searches it
# before LD_LIBRARY_PATH, so the tests run this build's library even when
# LD_LIBRARY_PATH leads to another libripc.so.0 (an installed one).
RPATH   := -Wl,--disable-new-dtags '-Wl,-rpath,$(abspath $(OUT))'
LDLIBS  := -L$(OUT) $(RPATH) -lripc -lpthread -ldl -lm
TOOLS   := ripcs ripcrm ripcmk
MAN1    := $(wildcard man/*.1)
MAN3    := $(wildcard man/*.3)
MAN7    := $(wildcard man/*.7)
COMPLETIONS := $(addprefix completion/,$(TOOLS))

TEST_SRC := $(wildcard c_tests/t_*.c)
TEST_BIN := $(patsubst c_tests/%.c,$(B)/c_tests/%,$(TEST_SRC))
TEST_SH  := $(wildcard c_tests/t_*.sh)
ART_SRC  := $(wildcard c_tests/articles/*.c)
ART_BIN  := $(patsubst c_tests/articles/%.c,$(B)/articles/%,$(ART_SRC))
EX_SRC   := $(wildcard examples_c/*.c)
EX_BIN   := $(patsubst examples_c/%.c,$(B)/examples/%,$(EX_SRC))
# bench/matrix.c has a rule of its own (its Boost column is C++).
BENCH_SRC := $(filter-out bench/matrix.c,$(wildcard bench/*.c))
BENCH_BIN := $(patsubst bench/%.c,$(B)/bench/%,$(BENCH_SRC)) $(B)/bench/matrix
HEADERS  := include/ripc.h include/ripc_sysv.h

.PHONY: all lib header demo deps test test-rust test-c doc-lint memcheck bench install uninstall clean help lint man-lint FORCE

all: lib $(EX_BIN) $(ART_BIN) $(TEST_BIN)

help:
	@echo "make            library (target/release/libripc.{so,a}), examples, tools"
	@echo "make demo       the articles' scenarios end to end (default namespace)"
	@echo "make test       Rust tests, then the C suite under both backends"
	@echo "make bench      ripc against the kernel and the other IPC (placement matrix), as ratios"
	@echo "                (BENCH_QUICK=1: a quick run; docs/perf.md)"
	@echo "make install PREFIX=/dir [DESTDIR=… LIBDIR=… BINDIR=… INCLUDEDIR=… MANDIR=… PKGCONFIGDIR=… DATADIR=… STRIP=]"
	@echo "make header     regenerate include/ripc.h with cbindgen (a build never rewrites it)"
	@echo "make man-lint   mandoc -T lint on man/"
	@echo "make lint       clippy -D warnings, rustfmt --check, cargo doc -D warnings"
	@echo "make doc-lint   cargo doc -D warnings (public and private items; part of make test)"
	@echo "make memcheck   a subset of the C suite under valgrind (slow)"

lib: $(SO) $(ARCHIVE)

# The crate is an rlib for Rust dependents; the C libraries are asked for
# here, in one rustc run, the shared one linked with its soname and a GNU
# build-id note whatever the linker's default (lld has none: the C suite
# checks that a process it re-executes as another user loads this very
# library, c_tests/tap.h tap_same_libripc); with the library's own
# async-signal-safe allocator (src/os/alloc.rs). Then the tools (on the rlib).
# link/child-path.ld groups the code a fork child runs (its handlers,
# shmctl(IPC_STAT), semop) in one 64 KiB window: one page fault in the
# child instead of ~10 (see the script; build.rs reruns when it changes).
# -z nodelete: dlclose never unmaps the library, whose thread-exit key's
# destructor a thread's value refers to (src/os/thread_exit.rs).
SOLINK  := -C link-arg=-Wl,-soname,$(SONAME) -C link-arg=-Wl,--build-id \
           -C link-arg=-Wl,-z,nodelete \
           -C 'link-arg=-Wl,-T,$(CURDIR)/link/child-path.ld'
$(SO) $(ARCHIVE): Cargo.toml link/child-path.ld $(shell find src -name '*.rs') build.rs src/ffi/cancel.c
	$(CARGO) rustc --release --lib --features sigsafe-alloc --crate-type cdylib,staticlib -- $(SOLINK)
	$(CARGO) build --release --bins
	@ln -sf libripc.so $(OUT)/$(SONAME)
	@touch $(SO) $(ARCHIVE)

# cbindgen runs in the header test (tests/header.rs), which writes the
# header under RIPC_WRITE_HEADER=1 instead of comparing it.
header:
	RIPC_WRITE_HEADER=1 $(CARGO) test --release --test header

$(B)/c_tests/%: c_tests/%.c c_tests/tap.h c_tests/numbered.h c_tests/msg_totals.h c_tests/sem_peer.h c_tests/sem_stop.h $(HEADERS) $(SO)
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CFLAGS) $(CPPFLAGS) -Ic_tests -o $@ $< $(LDLIBS)

# t_first_call_alloc re-executes itself with this preloaded: it counts each
# thread's calls of the C library's allocator (c_tests/mcount.c).
$(B)/c_tests/libmcount.so: c_tests/mcount.c
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CFLAGS) -fPIC -shared -o $@ $<
$(B)/c_tests/t_first_call_alloc: $(B)/c_tests/libmcount.so

$(B)/articles/%: c_tests/articles/%.c include/ripc_sysv.h $(SO)
	@mkdir -p $(@D)
	$(CC) $(LEGACY) $(CFLAGS) $(CPPFLAGS) -Ic_tests/articles -include ripc_sysv.h -o $@ $< $(LDLIBS)

$(B)/examples/%: examples_c/%.c $(HEADERS) $(SO)
	@mkdir -p $(@D)
	$(CC) $(EXWARN) $(CFLAGS) $(CPPFLAGS) -o $@ $< $(LDLIBS)

$(B)/bench/%: bench/%.c bench/bench.h $(HEADERS) $(SO)
	@mkdir -p $(@D)
	$(CC) $(WARN) -O2 $(CPPFLAGS) -o $@ $< $(LDLIBS)

# The placement matrix's Boost.Interprocess column: bench/boost.sh installs
# libboost-dev when missing and possible, and records "boost" or "none" in
# boost.mode (rewritten only when that changes, so the matrix is rebuilt
# only then). Boost's side is C++, built with $(CXX); the rest is C.
$(B)/bench/boost.mode: FORCE
	@mkdir -p $(@D)
	@CXX='$(CXX)' sh bench/boost.sh $@

$(B)/bench/matrix: bench/matrix.c bench/bench.h bench/boost_mq.h bench/boost_mq.cpp $(B)/bench/boost.mode $(HEADERS) $(SO)
	@mkdir -p $(@D)
	if [ "$$(cat $(B)/bench/boost.mode)" = boost ]; then \
	  $(CXX) -std=c++17 -Wall -Wextra -Werror -O2 -c -o $(B)/bench/boost_mq.o bench/boost_mq.cpp && \
	  $(CC) $(WARN) -O2 $(CPPFLAGS) -DBENCH_BOOST -o $@ $< $(B)/bench/boost_mq.o $(LDLIBS) -lrt -lstdc++; \
	else $(CC) $(WARN) -O2 $(CPPFLAGS) -o $@ $< $(LDLIBS) -lrt; fi

FORCE:

demo: all
	@sh examples_c/demo.sh

test: test-rust doc-lint test-c

# What the C suite needs beyond a compiler and cargo: prove (perl), ipcs
# (util-linux), pkg-config, nm/readelf/strip (binutils), mandoc (the man
# pages' lint). Installed with apt-get when missing and possible (a fresh
# Debian machine, as root); otherwise a clear message.
TEST_TOOLS := prove ipcs pkg-config nm readelf strip mandoc
deps:
	@missing=""; for t in $(TEST_TOOLS); do command -v $$t >/dev/null 2>&1 || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing test tools:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq perl util-linux pkg-config binutils mandoc >/dev/null; \
	  else echo "make test needs:$$missing (Debian: apt-get install perl util-linux pkg-config binutils mandoc)"; exit 1; fi; \
	fi

# The unit and integration tests, and the API's examples (doctests).
# With the C libraries' allocator as the global one (src/os/alloc.rs), so
# that every unit and integration test drives it.
test-rust:
	$(CARGO) test --release --features sigsafe-alloc

# The documentation without a warning: the API's (what docs.rs shows), and
# the developers' (private items too, where the engines' links point).
doc-lint:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --document-private-items

# Every C test runs twice, once per backend, each run in its own RIPC_DIR
# (c_tests/run1.sh checks that nothing is left behind). Where it may (root),
# the suite runs in a System V IPC namespace of its own (unshare -i), so
# that its kernel-object check counts exactly what the suite left: on a
# shared machine another user's test created an object during the suite
# and the check took it for the suite's (2026-12-07); the kernel limits
# there are the defaults, as on a fresh machine. Elsewhere it runs as is.
# (A recursive variable: the probe runs only when test-c does.)
IPCNS = $(shell unshare -i true >/dev/null 2>&1 && echo unshare -i)
test-c: deps all
	$(IPCNS) sh -c 'ipcs -a > $(B)/ipcs.before 2>/dev/null || true; \
	  $(PROVE) -j$(JOBS) --exec "sh c_tests/run1.sh user" $(TEST_BIN) $(TEST_SH) && \
	  $(PROVE) -j$(JOBS) --exec "sh c_tests/run1.sh kernel" $(TEST_BIN) $(TEST_SH) && \
	  sh c_tests/check_kernel_clean.sh $(B)/ipcs.before'

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

lint: doc-lint
	$(CARGO) clippy --release --all-targets -- -D warnings
	$(CARGO) fmt --check

man-lint:
	mandoc -T lint -W warning $(MAN1) $(MAN3) $(MAN7)

# Paths as pkg-config writes them: relative to ${prefix} when inside it.
pcdir = $(patsubst $(PREFIX)/%,$${prefix}/%,$(patsubst $(PREFIX),$${prefix},$(1)))
# The loader's default directories: an install there needs `ldconfig`.
SYSLIBDIRS := /lib /lib64 /usr/lib /usr/lib64 /usr/local/lib /usr/local/lib64
L := $(DESTDIR)$(LIBDIR)

install: lib
	$(INSTALL) -d $(L) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(PKGCONFIGDIR) \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(BASHCOMPDIR)
	$(INSTALL) -m 755 $(SO) $(L)/libripc.so.$(VERSION)
	$(INSTALL) -m 644 $(ARCHIVE) $(L)/libripc.a
	$(if $(STRIP),$(STRIP) --strip-unneeded $(L)/libripc.so.$(VERSION))
	$(if $(STRIP),$(STRIP) --strip-debug $(L)/libripc.a)
	ln -sf libripc.so.$(VERSION) $(L)/$(SONAME)
	ln -sf $(SONAME) $(L)/libripc.so
	$(INSTALL) -m 644 $(HEADERS) $(DESTDIR)$(INCLUDEDIR)/
	for t in $(TOOLS); do if [ -x $(OUT)/$$t ]; then \
	  $(INSTALL) -m 755 $(OUT)/$$t $(DESTDIR)$(BINDIR)/ && \
	  { [ -z "$(STRIP)" ] || $(STRIP) $(DESTDIR)$(BINDIR)/$$t; } || exit 1; fi; done
	$(INSTALL) -m 644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/
	$(INSTALL) -m 644 $(MAN3) $(DESTDIR)$(MANDIR)/man3/
	$(INSTALL) -m 644 $(MAN7) $(DESTDIR)$(MANDIR)/man7/
	$(INSTALL) -m 644 $(COMPLETIONS) $(DESTDIR)$(BASHCOMPDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' \
	    -e 's|@LIBDIR@|$(call pcdir,$(LIBDIR))|g' -e 's|@INCLUDEDIR@|$(call pcdir,$(INCLUDEDIR))|g' \
	    ripc.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/ripc.pc
	@if [ -z "$(DESTDIR)" ]; then \
	  case " $(SYSLIBDIRS) " in *" $(LIBDIR) "*) sys=1 ;; *) sys= ;; esac; \
	  if [ -z "$$sys" ] && cat /etc/ld.so.conf /etc/ld.so.conf.d/*.conf 2>/dev/null | grep -qx '$(LIBDIR)'; then sys=1; fi; \
	  if [ -n "$$sys" ]; then \
	    echo "note: $(LIBDIR) is a system library directory: run ldconfig (as root) so the loader finds $(SONAME)"; \
	  else \
	    echo "note: $(LIBDIR) is not in the loader's search path: link with -Wl,-rpath,$(LIBDIR) or set LD_LIBRARY_PATH"; \
	  fi; \
	fi

uninstall:
	rm -f $(L)/libripc.so $(L)/$(SONAME) $(L)/libripc.so.$(VERSION) $(L)/libripc.a
	rm -f $(addprefix $(DESTDIR)$(INCLUDEDIR)/,ripc.h ripc_sysv.h)
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(TOOLS)) $(DESTDIR)$(PKGCONFIGDIR)/ripc.pc
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(MAN1))) $(addprefix $(DESTDIR)$(MANDIR)/man3/,$(notdir $(MAN3)))
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man7/,$(notdir $(MAN7))) $(addprefix $(DESTDIR)$(BASHCOMPDIR)/,$(TOOLS))

clean:
	$(CARGO) clean
	rm -rf $(B)
