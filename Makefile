# xlb: XDP/eBPF layer-4 load balancer.  `make`, `make check`, `make demo`.
.DELETE_ON_ERROR:
.SUFFIXES:
.SECONDARY:

BUILD      ?= build
CC         ?= gcc
CLANG      ?= clang
BPFTOOL    ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
ARCH_INC   := -I/usr/include/$(shell $(CC) -dumpmachine)
PREFIX     ?= /usr/local
SYSTEMDDIR ?= /etc/systemd/system
VERSION    := $(shell git describe --always --dirty 2>/dev/null || echo unknown)

ifeq ($(V),1)
Q :=
msg =
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

BPF_CFLAGS := -g -O2 -target bpf -Wall -Werror $(ARCH_INC) -D__BPF__
CFLAGS     ?= -O2 -g
# user/: libxlb in wings (the change path, the data plane's maps and loaders,
# the daemon, small utilities) and cmd/, the xlb command
WINGS      := change dataplane daemon store util
XCFLAGS    := $(CFLAGS) -Wall -Wextra -Werror -Wno-format-truncation -MMD -MP -std=gnu11 \
              -I$(BUILD) -Iinclude $(WINGS:%=-Iuser/%) -I. -DXLB_VERSION='"$(VERSION)"'
LDLIBS     := -lbpf -lelf -lz -ljansson -lm -lmicrohttpd -lsystemd -lpthread -lcurl -lcares

BPF_PROGS  := xlb decap hc baseline pktgen sink fwd	# bpf/: what ships; tools/bpf/: bench, traffic
BPF_OBJS   := $(patsubst %,$(BUILD)/%.bpf.o,$(BPF_PROGS))
SKELS      := $(patsubst %,$(BUILD)/%.skel.h,$(BPF_PROGS))

LIB_SRCS   := $(wildcard $(WINGS:%=user/%/*.c))
LIB_OBJS   := $(patsubst user/%.c,$(BUILD)/user/%.o,$(LIB_SRCS))
CLI_SRCS   := $(wildcard user/cmd/*.c)
CLI_OBJS   := $(patsubst user/%.c,$(BUILD)/user/%.o,$(CLI_SRCS))

UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(wildcard tests/unit/test_*.c))
BPF_TESTS  := $(patsubst tests/bpf/%.c,$(BUILD)/tests/bpf/%,$(wildcard tests/bpf/test_*.c))
.PRECIOUS: $(BUILD)/tests/%.o $(BUILD)/tools/%.o
# tests/faults.o: fault injection from the environment (user/util/fault.h), never in build/xlb
TEST_OBJS  := $(BUILD)/tests/pktbuild.o $(BUILD)/tests/testnet.o $(BUILD)/tests/faults.o
BPF_TEST_OBJS := $(BUILD)/tests/bpf/xlbtest.o

.PHONY: all clean check check-unit check-bpf check-e2e deps demo demo-fleet deb bench bench-deps bench-prog bench-ctl bench-fleet-sim fuzz install
all: $(BUILD)/xlb $(BUILD)/xlb-faults $(BUILD)/bench-prog $(BUILD)/bench-ctl $(BUILD)/udp-echo $(BUILD)/pktgen \
     $(BUILD)/bench-node $(BUILD)/fleet-sim

$(BUILD)/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h) include/xlb_abi.h | $(BUILD)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.bpf.o: tools/bpf/%.bpf.c $(wildcard bpf/*.h) $(wildcard include/*.h) | $(BUILD)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf > $@

# An object that includes skeletons waits for those (tools/skel-deps reads the
# includes), and for no others.
C_SRCS     := $(wildcard user/*/*.c tests/*.c tests/*/*.c tools/*.c)
$(BUILD)/skel.mk: $(C_SRCS) $(wildcard user/*/*.h tests/*.h tests/*/*.h tools/*.h) tools/skel-deps | $(BUILD)
	$(Q)tools/skel-deps $(BUILD) $(C_SRCS) >$@
-include $(BUILD)/skel.mk

$(BUILD)/user/%.o: user/%.c | $(BUILD)/user/cmd
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(XCFLAGS) -c $< -o $@

$(BUILD)/libxlb.a: $(LIB_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/xlb: $(CLI_OBJS) $(BUILD)/libxlb.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# the same command with fault injection (XLB_FAIL_AT, XLB_PAUSE_AT): for tests only
$(BUILD)/xlb-faults: $(CLI_OBJS) $(BUILD)/tests/faults.o $(BUILD)/libxlb.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tools/%.o: tools/%.c | $(BUILD)/tools
	$(call msg,CC,$@)
	$(Q)$(CC) $(XCFLAGS) -Itests -I. -c $< -o $@

BENCH_PROG_OBJS := $(patsubst %,$(BUILD)/tools/bench-prog%.o,-run -rows -flood)
$(BUILD)/bench-prog: $(BUILD)/tools/bench-prog.o $(BENCH_PROG_OBJS) $(TEST_OBJS) $(BPF_TEST_OBJS) $(BUILD)/libxlb.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# the lab's traffic generator and its benchmark nodes (sink, trivial forwarder)
PKTGEN_OBJS := $(BUILD)/tools/pktgen-template.o $(BUILD)/tools/labnet.o $(BUILD)/tests/pktbuild.o
PKTGEN_ENGINES := $(patsubst %,$(BUILD)/tools/pktgen-%.o,live xsk packet tc)
$(BUILD)/pktgen: $(BUILD)/tools/pktgen.o $(PKTGEN_ENGINES) $(PKTGEN_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS) -lxdp

$(BUILD)/bench-node: $(BUILD)/tools/bench-node.o $(BUILD)/tools/labnet.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench-ctl: $(BUILD)/tools/bench-ctl.o $(BUILD)/libxlb.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# N fleet nodes simulated against a real etcd (tools/bench-fleet-sim)
$(BUILD)/fleet-sim: $(BUILD)/tools/fleet-sim.o $(BUILD)/tools/fleet-sim-main.o $(BUILD)/libxlb.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# one check of the daemon's probes, driven by an epoll loop (tests/unit/probes.sh)
$(BUILD)/probe-check: $(BUILD)/tests/probe-check.o $(BUILD)/libxlb.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/udp-echo: tools/udp-echo.c | $(BUILD)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Wall -Wextra -Werror -o $@ $<

$(BUILD)/tests/%.o: tests/%.c | $(BUILD)/tests/unit $(BUILD)/tests/bpf
	$(call msg,CC,$@)
	$(Q)$(CC) $(XCFLAGS) -Itests -c $< -o $@

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(TEST_OBJS) $(BUILD)/libxlb.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BUILD)/tests/bpf/test_pktgen: $(BUILD)/tools/pktgen-template.o

$(BUILD)/tests/bpf/%: $(BUILD)/tests/bpf/%.o $(TEST_OBJS) $(BPF_TEST_OBJS) $(BUILD)/libxlb.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

$(BUILD) $(BUILD)/user $(BUILD)/user/cmd $(BUILD)/tools $(BUILD)/tests/unit $(BUILD)/tests/bpf $(BUILD)/fuzz:
	$(Q)mkdir -p $@

# Targets that need the Debian packages install them in their recipe's first
# line and build after it: a recipe runs in order, whatever order make picks
# for prerequisites (tests/unit/make-order.sh holds it).
DEPS_FIRST = $(Q)tools/deps check || tools/deps install

# ---- tests ------------------------------------------------------------------
# Each suite writes its totals to $(BUILD)/results/<suite>; `check` sums them
# and prints "N passed, N failed, N skipped" as its last line.
check:
	$(DEPS_FIRST)
	$(Q)rm -rf $(BUILD)/results
	$(Q)rc=0; \
	$(MAKE) --no-print-directory check-unit || rc=1; \
	$(MAKE) --no-print-directory check-bpf || rc=1; \
	$(MAKE) --no-print-directory check-e2e || rc=1; \
	tools/tally $(BUILD)/results || rc=1; exit $$rc

# unit files two at a time (UNIT_JOBS=1: one at a time): each has its own
# temporary files, namespaces and etcd; bpf and e2e files one at a time (labs).
# The slowest unit files first (20-30 s each against real etcd, or 100,000
# history writes), so that two of them do not end the run alone.
UNIT_JOBS  ?= 2
UNIT_SLOW  := tests/unit/fleet-store.sh $(BUILD)/tests/unit/test_store \
              $(BUILD)/tests/unit/test_history tests/unit/fleet-store-tls.sh
UNIT_FILES := $(foreach f,$(UNIT_SLOW),$(filter $(f),$(UNIT_TESTS) $(wildcard tests/unit/*.sh))) \
              $(filter-out $(UNIT_SLOW),$(UNIT_TESTS) $(wildcard tests/unit/*.sh))
check-unit: $(UNIT_TESTS) $(BUILD)/xlb $(BUILD)/xlb-faults $(BUILD)/probe-check
	$(Q)RUN_TESTS_JOBS=$(UNIT_JOBS) tools/run-tests unit $(BUILD)/results $(UNIT_FILES)

# the lab (tools/lab, hcpath.sh) serves UDP with udp-echo
check-bpf: $(BPF_TESTS) $(BUILD)/xlb $(BUILD)/xlb-faults $(BUILD)/pktgen $(BUILD)/bench-node $(BUILD)/baseline.bpf.o \
           $(BUILD)/udp-echo
	$(Q)tools/run-tests bpf $(BUILD)/results $(BPF_TESTS) $(wildcard tests/bpf/*.sh)

check-e2e: all
	$(Q)tools/run-tests e2e $(BUILD)/results $(wildcard tests/e2e/[0-9]*.sh)

# ---- fuzzing ----------------------------------------------------------------
FUZZ_SECONDS ?= 60
$(BUILD)/fuzz/fuzz_parse: tests/fuzz/fuzz_parse.c bpf/parse.h bpf/hash.h include/xlb_abi.h | $(BUILD)/fuzz
	$(call msg,FUZZ-CC,$@)
	$(Q)$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-Iinclude $< -o $@

fuzz: $(BUILD)/fuzz/fuzz_parse $(BUILD)/tests/unit/test_parse
	$(Q)mkdir -p $(BUILD)/fuzz/corpus
	$(Q)XLB_DUMP_CORPUS=$(BUILD)/fuzz/corpus $(BUILD)/tests/unit/test_parse >/dev/null
	$(Q)$(BUILD)/fuzz/fuzz_parse -max_total_time=$(FUZZ_SECONDS) -max_len=512 \
		-artifact_prefix=$(BUILD)/fuzz/ $(BUILD)/fuzz/corpus

# ---- benchmarks, deps, demo, install ------------------------------------------
# the suite against userspace balancers in the lab: build/bench/report.md
bench:
	$(Q)tools/deps check bench 2>/dev/null || tools/deps install bench
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/bench $(BENCH_ARGS)
bench-deps:
	$(Q)tools/deps check bench 2>/dev/null || tools/deps install bench
bench-prog:
	$(DEPS_FIRST)
	$(Q)$(MAKE) --no-print-directory $(BUILD)/bench-prog
	$(Q)$(BUILD)/bench-prog
bench-ctl:
	$(DEPS_FIRST)
	$(Q)$(MAKE) --no-print-directory $(BUILD)/bench-ctl $(BUILD)/xlb
	$(Q)$(BUILD)/bench-ctl
	$(Q)tools/bench-apply
	$(Q)tools/bench-health
# a fleet of 100, 300 and 1,000 simulated nodes on a 3-member etcd (doc/fleet-scale.md)
bench-fleet-sim:
	$(DEPS_FIRST)
	$(Q)$(MAKE) --no-print-directory $(BUILD)/fleet-sim
	$(Q)tools/bench-fleet-sim $(BENCH_ARGS)

deps:
	$(Q)tools/deps install

deps-check:
	$(DEPS_FIRST)

demo:
	$(DEPS_FIRST)
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/demo

demo-fleet:
	$(DEPS_FIRST)
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/demo-fleet

# the Debian package: build/xlb_<version>_<arch>.deb
deb: all
	$(Q)tools/mkdeb $(BUILD)

install: $(BUILD)/xlb
	install -D -m 0755 $(BUILD)/xlb $(DESTDIR)$(PREFIX)/sbin/xlb
	install -D -m 0644 doc/xlb.8 $(DESTDIR)$(PREFIX)/share/man/man8/xlb.8
	install -D -m 0644 doc/xlb.bash-completion $(DESTDIR)$(PREFIX)/share/bash-completion/completions/xlb
	install -d $(DESTDIR)$(SYSTEMDDIR)
	sed 's|@SBINDIR@|$(PREFIX)/sbin|' doc/xlb.service.in >$(DESTDIR)$(SYSTEMDDIR)/xlb.service

clean:
	rm -rf $(BUILD)

-include $(wildcard $(BUILD)/user/*.d $(BUILD)/user/*/*.d $(BUILD)/tests/*/*.d $(BUILD)/tests/*.d $(BUILD)/tools/*.d)
