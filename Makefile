# idim - build, test, bench, demo. GNU make.
# Dependencies come from pkg-config; `make deps` installs missing Debian packages.

CC      ?= cc
PREFIX  ?= /usr/local
PKGS    := openblas libcjson libutf8proc libpcre2-8
TPKGS   := $(PKGS) cmocka
DEBS    := build-essential pkg-config libopenblas-dev libcjson-dev libutf8proc-dev libpcre2-dev libcmocka-dev python3 python3-jsonschema libopenmpi-dev openmpi-bin parallel

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
T_CFLAGS   := $(shell pkg-config --cflags cmocka 2>/dev/null)
T_LIBS     := $(shell pkg-config --libs cmocka 2>/dev/null)
# Open MPI (optional): with its development files idim runs under mpirun
# (src/sched.c); without them it builds all the same and says so when
# started by an MPI launcher. MPI=no builds without it.
ifneq ($(MPI),no)
ifeq ($(shell pkg-config --exists ompi-c 2>/dev/null && echo yes),yes)
PKG_CFLAGS += $(shell pkg-config --cflags ompi-c) -DIDIM_HAVE_MPI
PKG_LIBS   += $(shell pkg-config --libs ompi-c)
endif
endif

WARN    := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes
OPT     ?= -O2 -g
CFLAGS  := $(OPT) -std=c11 $(WARN) -D_GNU_SOURCE -Iinclude $(PKG_CFLAGS) -MMD -MP
ifeq ($(CI),true)
CFLAGS  += -Werror
endif
LDLIBS  := $(PKG_LIBS) -lm -lpthread

BUILD   ?= build
LIB_SRC := $(filter-out src/main.c src/cli_%.c,$(wildcard src/*.c))
CLI_SRC := src/main.c $(wildcard src/cli_*.c)
LIB_OBJ := $(LIB_SRC:src/%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:src/%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_SRC := $(wildcard bench/bench_*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
CFLAGS  += -DIDIM_VERSION=\"$(VERSION)\"

.PHONY: all test asan bench demo pretrained deps install clean check-deps docs fuzz fuzz-build

# libFuzzer targets (fuzz/fuzz_*.c) over every reader, built with clang and
# ASan+UBSan into build-fuzz/ (docs/FUZZ.md). `make test` runs each for a
# few seconds when clang is installed; `make fuzz` runs each for
# FUZZ_SECONDS (default 60) or FUZZ_RUNS executions.
FUZZ_CC      ?= clang
HAVE_CLANG   := $(shell command -v $(FUZZ_CC) >/dev/null 2>&1 && echo yes)
FUZZ_BUILD   := build-fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS  := -O1 -g -fno-omit-frame-pointer $(FUZZ_SAN) -fsanitize=fuzzer-no-link -std=c11 \
                $(WARN) -D_GNU_SOURCE -Iinclude $(PKG_CFLAGS) -MMD -MP -DIDIM_VERSION=\"$(shell cat VERSION 2>/dev/null || echo 0.0.0)\"
FUZZ_SRC     := $(wildcard fuzz/fuzz_*.c)
FUZZ_BIN     := $(FUZZ_SRC:fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_LIB_OBJ := $(LIB_SRC:src/%.c=$(FUZZ_BUILD)/%.o)
FUZZ_SECONDS ?= 60
FUZZ_RUNS    ?= 0
# FUZZ_TARGETS="hf task": only these targets (default: all)
FUZZ_TARGETS ?=
FUZZ_RUN_BIN := $(if $(strip $(FUZZ_TARGETS)),$(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%),$(FUZZ_BIN))
ifeq ($(HAVE_CLANG),yes)
FUZZ_TEST_DEP := fuzz-build
endif

# On a fresh machine the first `make demo` / `make test` installs what is
# missing (make deps), then starts again with the libraries' flags known.
HAVE_DEPS := $(shell pkg-config --exists $(TPKGS) 2>/dev/null && echo yes)
ifneq ($(HAVE_DEPS),yes)
all idim test asan bench demo pretrained install:
	$(MAKE) deps
	$(MAKE) $@
else
all: idim

idim: $(BUILD)/idim
	cp $< $@

$(BUILD)/idim: $(CLI_OBJ) $(BUILD)/libidim.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libidim.a: $(LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(BUILD)/%.o: src/%.c | check-deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/%.c $(BUILD)/libidim.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(T_CFLAGS) -Itests -o $@ $< $(BUILD)/libidim.a $(T_LIBS) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libidim.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libidim.a $(LDLIBS)

check-deps:
	@pkg-config --exists $(TPKGS) || { echo "idim: missing libraries ($(TPKGS)); run 'make deps'" >&2; exit 1; }

# Builds and runs every test; ends with the runner's "N passed, N failed" line.
test: idim $(TEST_BIN) $(FUZZ_TEST_DEP)
	@IDIM=./idim BUILD=$(BUILD) sh tests/run.sh

# The same tests under AddressSanitizer + UndefinedBehaviorSanitizer.
asan: $(FUZZ_TEST_DEP)
	$(MAKE) BUILD=build-asan OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" build-asan/idim $(patsubst $(BUILD)/%,build-asan/%,$(TEST_BIN))
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 IDIM=build-asan/idim BUILD=build-asan sh tests/run.sh

fuzz-build: $(FUZZ_BIN)

$(FUZZ_BUILD)/%.o: src/%.c | check-deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/libidim.a: $(FUZZ_LIB_OBJ)
	rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_util.h $(FUZZ_BUILD)/libidim.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_BUILD)/libidim.a $(LDLIBS)

# Each target in turn (niced), from its committed seeds plus what earlier
# runs found (build-fuzz/corpus/NAME); stops at the first crash.
fuzz: $(FUZZ_RUN_BIN)
	@for b in $(FUZZ_RUN_BIN); do n=$${b##*/fuzz_}; mkdir -p $(FUZZ_BUILD)/corpus/$$n; \
	  echo "== $$b ($(FUZZ_SECONDS) s or $(FUZZ_RUNS) runs)"; \
	  nice -n 10 $$b -max_total_time=$(FUZZ_SECONDS) -runs=$$( [ $(FUZZ_RUNS) -gt 0 ] && echo $(FUZZ_RUNS) || echo -1) \
	    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=$(FUZZ_BUILD)/crash-$$n- \
	    $(FUZZ_BUILD)/corpus/$$n fuzz/corpus/$$n || exit 1; done

# Timings (never part of the tests).
bench: idim $(BENCH_BIN)
	@for b in $(BENCH_BIN); do echo "== $$b"; $$b || exit 1; done

demo: idim
	@sh scripts/demo.sh

# The best start model measured for a tiny BERT (bert-base-uncased
# vocabulary): word vectors of the Debian corpus (scripts/corpus.sh) plus
# SST-2's train text in the embedding table (idim pretrain --objective
# wordvec; scripts/pretrained.sh, docs/PRETRAIN.md). PRESET=mini: the same
# recipe for the 4-layer, hidden-256 preset.
PRESET ?= tiny
pretrained: idim
	@sh scripts/pretrained.sh --preset $(PRESET)

# The man page and the bash completion, generated from the option tables
# (tests/e2e_docs.sh fails while the committed copies are stale).
docs: idim
	./idim --docs man > docs/idim.1.tmp && mv docs/idim.1.tmp docs/idim.1
	./idim --docs bash > scripts/idim.bash.tmp && mv scripts/idim.bash.tmp scripts/idim.bash

# The demo model (random init + 3 epochs on data/demo/pretrain, ~5 s), as
# `make demo` makes it; installed with the demo data.
data/demo/model.idim: $(BUILD)/idim data/demo/vocab.txt data/demo/pretrain/train.tsv
	@mkdir -p $(BUILD)
	$(BUILD)/idim init --layers 1 --hidden 64 --heads 2 --ffn 256 --max-pos 64 \
	    --vocab data/demo/vocab.txt --seed 0 -o $(BUILD)/demo-random.idim >/dev/null
	$(BUILD)/idim finetune --task mrpc --data data/demo/pretrain --model $(BUILD)/demo-random.idim \
	    --lr 1e-3 --epochs 3 --max-len 40 --dropout 0 --threads 2 --quiet --save-model $@ >/dev/null

# PREFIX/bin/idim, the man page, bash completion, and under PREFIX/share/idim
# the report schema, the demo data (with its model) and the scripts; the
# installed idim finds that folder beside its bin/ (idim --version shows it).
# The binary comes from $(BUILD), not ./idim (here and for the demo model):
# e2e_install runs under `make asan` with BUILD=build-asan, and going through
# ./idim left the sanitizer build there (3x slower) for every later command.
SHARE := $(DESTDIR)$(PREFIX)/share/idim
install: $(BUILD)/idim data/demo/model.idim
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions $(SHARE)/docs \
	    $(SHARE)/scripts $(SHARE)/data/demo/pretrain
	install -m 755 $(BUILD)/idim $(DESTDIR)$(PREFIX)/bin/idim
	install -m 644 docs/idim.1 $(DESTDIR)$(PREFIX)/share/man/man1/idim.1
	install -m 644 scripts/idim.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/idim
	install -m 644 docs/report.schema.json docs/*.md $(SHARE)/docs/
	install -m 644 data/demo/*.tsv data/demo/vocab.txt data/demo/model.idim $(SHARE)/data/demo/
	install -m 644 data/demo/pretrain/* $(SHARE)/data/demo/pretrain/
	install -m 755 scripts/*.py scripts/*.sh $(SHARE)/scripts/
	@echo "installed: $(DESTDIR)$(PREFIX)/bin/idim; data and scripts in $(SHARE)"
endif

# Installs missing Debian packages (apt-get; sudo when not root).
deps:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  echo "installing:$$missing"; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else echo "all dependencies present"; fi

clean:
	rm -rf build build-asan build-fuzz idim

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(FUZZ_LIB_OBJ:.o=.d)
