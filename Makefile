# fdtrace build.  Everything lands in $(OUTPUT); `make V=1` shows commands.
OUTPUT     ?= build
CLANG      ?= clang
CC         ?= cc
BPFTOOL    ?= bpftool
LLVM_STRIP ?= llvm-strip
PYTHON     ?= /usr/bin/python3

ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
# The release version lives in VERSION, nowhere else (bump it there, see
# README); the commit it was built from is added for bug reports.
VERSION := $(shell cat VERSION)
COMMIT  := $(shell git describe --always --dirty --exclude '*' 2>/dev/null || echo unknown)

CFLAGS   ?= -O2 -g
CFLAGS   += -Wall -Wextra -Werror -std=gnu11
CPPFLAGS += -I$(OUTPUT) -Ibpf -Isrc
BPF_CFLAGS := -O2 -g -target bpf -D__TARGET_ARCH_$(ARCH) -Ivmlinux -Ibpf \
	-Wall -Werror -Wno-unused-function
LDLIBS   += -lbpf -ldw -lelf -lz

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# The matching engine and output never link libbpf: tests and offline
# tools use them on their own.
CORE_SRCS  := src/matcher.c src/htab.c src/heap.c src/attrib.c src/output.c src/json_writer.c src/clock.c src/html.c \
	      src/record.c src/record_reader.c src/replay.c src/prom.c src/findings.c src/sites.c
TOOL_SRCS  := src/fdtrace.c src/live.c src/sites_dwfl.c src/pysites.c src/env.c src/tracer.c src/probe.c src/procfs.c src/command.c
CORE_OBJS  := $(patsubst src/%.c,$(OUTPUT)/obj/%.o,$(CORE_SRCS))
TOOL_OBJS  := $(patsubst src/%.c,$(OUTPUT)/obj/%.o,$(TOOL_SRCS))

WORKLOAD_SRCS := $(wildcard tests/workloads/*.c)
WORKLOADS  := $(patsubst tests/workloads/%.c,$(OUTPUT)/tests/%,$(WORKLOAD_SRCS))
UNIT_TESTS := $(OUTPUT)/tests/test_matcher $(OUTPUT)/tests/test_output $(OUTPUT)/tests/test_record \
	      $(OUTPUT)/tests/test_html $(OUTPUT)/tests/test_prom
# prom.c driven with known numbers, for tests/prom_tests.py
PROM_DEMO  := $(OUTPUT)/tests/prom_demo

.DELETE_ON_ERROR:
.PHONY: all deps demo test unit-test clean vmlinux bench install fuzz fuzz-build soak FORCE

all: $(OUTPUT)/fdtrace $(WORKLOADS) $(UNIT_TESTS) $(PROM_DEMO) $(OUTPUT)/tests/test_pysites

$(OUTPUT) $(OUTPUT)/obj $(OUTPUT)/tests:
	$(Q)mkdir -p $@

# BPF object, then its skeleton.
$(OUTPUT)/fdtrace.bpf.o: bpf/fdtrace.bpf.c | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -MMD -MP -c $< -o $@
	$(Q)$(LLVM_STRIP) -g $@

$(OUTPUT)/fdtrace.skel.h: $(OUTPUT)/fdtrace.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name fdtrace_bpf > $@

# Rewritten only when the version changes, so a commit rebuilds what
# prints it and nothing else.
$(OUTPUT)/version.h: FORCE | $(OUTPUT)
	$(Q)printf '#define FDTRACE_VERSION "%s"\n#define FDTRACE_COMMIT "%s"\n' '$(VERSION)' '$(COMMIT)' > $@.tmp
	$(Q)cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@

$(OUTPUT)/obj/env.o $(OUTPUT)/obj/live.o $(OUTPUT)/obj/replay.o: $(OUTPUT)/version.h

# CPython 3.11's structure offsets, from its own internal headers
# (python3.11-dev): the generator is built against them and run.
PY311_INC  ?= /usr/include/python3.11
$(OUTPUT)/py311_offsets.h: scripts/py311_offsets.c | $(OUTPUT)
	$(call msg,GEN,$@)
	$(Q)$(CC) -DPy_BUILD_CORE -I$(PY311_INC) -I$(PY311_INC)/internal $< -o $(OUTPUT)/py311_offsets
	$(Q)$(OUTPUT)/py311_offsets > $@

$(OUTPUT)/obj/pysites.o: $(OUTPUT)/py311_offsets.h

# tracer.c includes the skeleton: it must exist before its dependency
# file does.
$(OUTPUT)/obj/tracer.o: $(OUTPUT)/fdtrace.skel.h

$(OUTPUT)/obj/%.o: src/%.c | $(OUTPUT)/obj
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(OUTPUT)/fdtrace: $(TOOL_OBJS) $(CORE_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(OUTPUT)/tests/test_matcher: tests/test_matcher.c $(CORE_OBJS) | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) -Itests $(CFLAGS) -MMD -MP $< $(CORE_OBJS) -o $@

$(OUTPUT)/tests/test_output: tests/test_output.c $(patsubst src/%.c,$(OUTPUT)/obj/%.o,src/output.c src/json_writer.c src/clock.c) | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) -Itests $(CFLAGS) -MMD -MP $< $(filter %.o,$^) -o $@

$(OUTPUT)/tests/test_record: tests/test_record.c $(CORE_OBJS) | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) -Itests $(CFLAGS) -MMD -MP $< $(CORE_OBJS) -o $@

$(OUTPUT)/tests/test_html: tests/test_html.c $(CORE_OBJS) | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) -Itests $(CFLAGS) -MMD -MP $< $(CORE_OBJS) -o $@

$(OUTPUT)/tests/test_prom $(PROM_DEMO): $(OUTPUT)/tests/%: tests/%.c \
		$(patsubst src/%.c,$(OUTPUT)/obj/%.o,src/prom.c src/attrib.c src/htab.c) | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) -Itests $(CFLAGS) -MMD -MP $< $(filter %.o,$^) -o $@

# The 3.11 location table decoder against CPython's own answers (tests/pysites_tests.py)
$(OUTPUT)/tests/test_pysites: tests/test_pysites.c $(OUTPUT)/obj/pysites.o | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) -Itests $(CFLAGS) -MMD -MP $< $(OUTPUT)/obj/pysites.o -lelf -o $@

# The recording reader's fuzz target (libFuzzer, ASan, UBSan), built from
# source with clang: only by fuzz-build, fuzz and test, so that `make`
# needs no libFuzzer.  FUZZ_SECONDS for `make fuzz`.
FUZZ_SECONDS ?= 300
# room for the largest START record (1024 targets)
FUZZ_MAX_LEN ?= 32768
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-Wall -Wextra -Werror -std=gnu11
FUZZ_BIN   := $(OUTPUT)/tests/fuzz_record

# One clang call for all sources: its headers are listed, not tracked.
$(FUZZ_BIN): tests/fuzz_record.c $(CORE_SRCS) $(wildcard src/*.h) bpf/fdtrace.h | $(OUTPUT)/tests
	$(call msg,FUZZ-CC,$@)
	$(Q)$(CLANG) $(CPPFLAGS) $(FUZZ_CFLAGS) $< $(CORE_SRCS) -o $@

fuzz-build: $(FUZZ_BIN)

# New inputs go to $(OUTPUT)/fuzz-corpus; the committed seeds stay as they are.
fuzz: DEPS = test
fuzz: deps
	$(Q)$(MAKE) --no-print-directory $(FUZZ_BIN)
	$(Q)mkdir -p $(OUTPUT)/fuzz-corpus $(OUTPUT)/fuzz-artifacts
	$(Q)$(FUZZ_BIN) -max_total_time=$(FUZZ_SECONDS) -max_len=$(FUZZ_MAX_LEN) -artifact_prefix=$(OUTPUT)/fuzz-artifacts/ \
		$(OUTPUT)/fuzz-corpus tests/fuzz/corpus

# Every workload links the helpers in tests/lib, compiled once.
WORKLOAD_LIB := $(OUTPUT)/obj/tests_lib_workload.o

$(WORKLOAD_LIB): tests/lib/workload.c | $(OUTPUT)/obj
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) -Itests/lib $(CFLAGS) -MMD -MP -c $< -o $@

$(OUTPUT)/tests/%: tests/workloads/%.c $(WORKLOAD_LIB) | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) -Itests/lib $(CFLAGS) -MMD -MP $< $(WORKLOAD_LIB) -o $@ -lpthread

# Install whatever is missing (Debian packages); a no-op when all is there.
deps:
	$(Q)scripts/install-deps.sh $(DEPS)

unit-test: $(UNIT_TESTS)
	$(Q)for t in $(UNIT_TESTS); do $$t || exit 1; done

test: DEPS = test
test: deps
	$(Q)$(MAKE) --no-print-directory all fuzz-build
	$(Q)$(PYTHON) tests/run_tests.py --build $(OUTPUT)

demo: DEPS = build
demo: deps
	$(Q)$(MAKE) --no-print-directory $(OUTPUT)/fdtrace
	$(Q)scripts/demo.sh $(OUTPUT)/fdtrace

bench: DEPS = test
bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory -C bench OUTPUT=$(abspath $(OUTPUT))/bench

# fdtrace's tests inside Debian's 6.1 and 6.12 kernels, in qemu (TCG):
# tests/vm/vmtest.py.  Kernel packages are cached in $(OUTPUT)/vm.
.PHONY: vmtest
vmtest: DEPS = test
vmtest: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(PYTHON) tests/vm/vmtest.py --build $(OUTPUT)

# Long run under churn (tests/soak.py); `make test` runs 60 s of it.
SOAK_MINUTES ?= 10
soak: DEPS = test
soak: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(PYTHON) tests/soak.py --build $(OUTPUT) --seconds $$(( $(SOAK_MINUTES) * 60 ))

# Regenerate the committed vmlinux.h from the running kernel's BTF.
vmlinux:
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux/vmlinux.h

# The man page, from scdoc source.  .nh after .TH: no hyphenation, which
# would split option and field names across lines.
MANPAGE := $(OUTPUT)/man/fdtrace.8
.PHONY: man deb
all: $(MANPAGE)
man: $(MANPAGE)

$(MANPAGE): man/fdtrace.8.scd VERSION
	$(call msg,SCDOC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)sed "s/@VERSION@/$$(cat VERSION)/" $< | scdoc > $@.tmp
	$(Q)sed '/^\.TH /a .nh' $@.tmp > $@ && rm -f $@.tmp

# The Debian package, into $(OUTPUT)/deb (see debian/make-deb).
deb: DEPS = deb
deb: deps
	$(Q)debian/make-deb $(OUTPUT)/deb

# The systemd unit names the binary: its @SBINDIR@ becomes this install's
# sbin.  systemd reads units from /usr/local/lib/systemd/system as well as
# /usr/lib/systemd/system, so $(PREFIX)/lib/systemd/system serves both.
PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
RULES := $(wildcard contrib/prometheus/*.yml)
install: $(OUTPUT)/fdtrace $(MANPAGE)
	install -D -m 0755 $(OUTPUT)/fdtrace $(DESTDIR)$(SBINDIR)/fdtrace
	install -D -m 0644 $(MANPAGE) $(DESTDIR)$(PREFIX)/share/man/man8/fdtrace.8
	install -d $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(PREFIX)/share/fdtrace
	sed 's|@SBINDIR@|$(SBINDIR)|g' contrib/systemd/fdtrace.service > $(DESTDIR)$(SYSTEMDUNITDIR)/fdtrace.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/fdtrace.service
	install -m 0644 $(RULES) $(DESTDIR)$(PREFIX)/share/fdtrace/

# The alert rules: syntax, and their unit tests (promtool, from Debian's
# prometheus package).  make test runs them too (tests/prom_tests.py).
.PHONY: rules-test
rules-test: DEPS = test
rules-test: deps
	$(Q)cd contrib/prometheus && promtool check rules fdtrace-rules.yml && \
		promtool test rules fdtrace-rules.test.yml

clean:
	rm -rf $(OUTPUT)

-include $(wildcard $(OUTPUT)/*.d $(OUTPUT)/obj/*.d $(OUTPUT)/tests/*.d)
