# derfseq — build, test, bench and demo.  `make help` lists the targets.
#
# MARCH picks the instruction set.  The default, x86-64 (SSE2), runs on any
# x86-64 machine; `make MARCH=native` tunes for the build host (results may
# then differ in the last bits because of FMA contraction).
# -fno-trapping-math lets GCC if-convert the clamps in lib/nn/mathfn.h and
# vectorise; derfseq never reads floating-point exception flags.

MARCH    ?= x86-64
PREFIX   ?= /usr/local
CC       ?= cc
PYTHON   ?= /usr/bin/python3

# The OpenMP build of OpenBLAS keeps its pkg-config file in its own folder.
OPENBLAS_PC := /usr/lib/x86_64-linux-gnu/openblas-openmp/pkgconfig
export PKG_CONFIG_PATH := $(OPENBLAS_PC)$(if $(PKG_CONFIG_PATH),:$(PKG_CONFIG_PATH))
PKGS     := htslib zlib sndfile fftw3f samplerate jansson openblas

DEB_PKGS := build-essential pkg-config libhts-dev zlib1g-dev libsndfile1-dev libfftw3-dev \
            libsamplerate0-dev libjansson-dev libopenblas-openmp-dev tabix

VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN     := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wno-missing-field-initializers
CFLAGS   ?= -O3
ALL_CFLAGS = $(CFLAGS) -std=gnu11 -march=$(MARCH) -fopenmp -fno-math-errno -fno-trapping-math $(WARN) \
             -I. -Ilib -Imodels -DDS_VERSION='"$(VERSION)"' $(PKG_CFLAGS)
LDLIBS   = $(PKG_LIBS) -fopenmp -lm

# `make asan=1 …` (or `make asan`) builds the same tree with the sanitizers
# into build-asan/, so a sanitizer build never mixes objects with a normal one.
ifeq ($(asan),1)
BUILD    := build-asan
CFLAGS   := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
else
BUILD    := build
endif

# `make MPI=1 …` links Open MPI (Debian's libopenmpi-dev, pkg-config ompi-c)
# for data-parallel pretrain/finetune (lib/core/dist.c, README "Running on a
# cluster") into build-mpi/ (build-mpi-asan/ with asan=1); the plain build
# stays MPI-free. `make MPI=1 test` runs the suite on that build and then
# test/mpi.sh, the equivalence of N ranks with one under mpirun.
MPI_DEB_PKGS := libopenmpi-dev openmpi-bin
ifeq ($(MPI),1)
BUILD    := $(BUILD:build%=build-mpi%)
PKGS     += ompi-c
ALL_CFLAGS += -DDS_MPI
DEB_PKGS += $(MPI_DEB_PKGS)
endif

# what `derfseq --version` reports as the build (cmd/main.c only)
$(BUILD)/cmd/main.o: ALL_CFLAGS += -DDS_BUILD_FLAGS='"$(CC) $(CFLAGS) -march=$(MARCH)"'

LIB_SRC  := $(wildcard lib/*/*.c) $(wildcard models/*.c)
CMD_SRC  := $(wildcard cmd/*.c)
TEST_SRC := $(wildcard test/*.c)
BENCH_SRC:= $(wildcard bench/*.c)

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
CMD_OBJ  := $(CMD_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ := $(TEST_SRC:%.c=$(BUILD)/%.o)
# the cmd/ code that test/test_asr.c calls directly
TEST_CMD_OBJ := $(BUILD)/cmd/asr.o $(BUILD)/cmd/speech.o

LIBA     := $(BUILD)/libderfseq.a
BIN      := $(BUILD)/derfseq
TESTBIN  := $(BUILD)/test_derfseq

.PHONY: all test test-mpi asan bench demo compare install uninstall deps golden clean help check-deps fuzz fuzz-build
all: $(BIN) $(LIBA)
	@ln -sf $(BIN) derfseq

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(LIBA): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(CMD_OBJ) $(LIBA)
	$(CC) $(LDFLAGS) -o $@ $(CMD_OBJ) $(LIBA) $(LDLIBS)

$(TESTBIN): $(TEST_OBJ) $(TEST_CMD_OBJ) $(LIBA) $(BIN)
	$(CC) $(LDFLAGS) -o $@ $(TEST_OBJ) $(TEST_CMD_OBJ) $(LIBA) $(LDLIBS)

# test/mpi.sh's checkpoint comparison (normwise distance of two safetensors)
$(BUILD)/test/tools/%: test/tools/%.c $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIBA) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIBA) $(LDLIBS)

# The tests run from the repository root with two threads, the CI machine's
# size; test/run.sh then repeats the numeric tests under every OpenBLAS kernel
# the CPU can run (OPENBLAS_CORETYPE Prescott, Sandybridge, Haswell, Zen,
# SkylakeX), and test/install_test.sh checks `make install`/`uninstall` and a
# program built with pkg-config against the installed library. `make test T=golden` runs only the tests whose name contains T.
test: deps
	@$(MAKE) --no-print-directory $(TESTBIN) $(BUILD)/test/tools/ckpt_diff
	@if [ -n "$(T)" ]; then DERFSEQ_BIN=$(BIN) OMP_NUM_THREADS=2 ./$(TESTBIN) $(T); \
	 else OMP_NUM_THREADS=2 test/run.sh ./$(TESTBIN) $(BIN) && test/install_test.sh $(MAKE) && \
	   test/mpi.sh $(BIN) $(if $(filter 1,$(MPI)),mpi,plain); fi

# Only the MPI equivalence test (test/mpi.sh), on the MPI build.
test-mpi:
	@$(MAKE) --no-print-directory MPI=1 deps
	@$(MAKE) --no-print-directory MPI=1 build-mpi/derfseq build-mpi/test/tools/ckpt_diff
	@test/mpi.sh build-mpi/derfseq mpi

asan: deps
	@$(MAKE) --no-print-directory asan=1 build-asan/test_derfseq
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 OMP_NUM_THREADS=2 \
	  test/run.sh ./build-asan/test_derfseq build-asan/derfseq

bench: deps all $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
	@bench/run.sh $(BUILD)

demo: deps all
	@scripts/demo.sh $(BIN)

# The paper's norm comparison, `derfseq compare` (man/derfseq-compare.1); the
# default runs the bundled lambda task in a few minutes. For real data, e.g.:
#   make compare COMPARE_ARGS='--model hyenadna-tiny-1k --genome hg38.fa.gz --steps 20000 -o cmp gb/human_nontata_promoters'
COMPARE_ARGS ?= --model hyenadna-demo --genome testdata/lambda_virus.fa.gz --steps 300 --epochs 10 -o build/compare \
                --pretrain-args "--batch-size 8 --seq-len 512 --eval-every 50" \
                --finetune-args "--batch-size 16 --lr 3e-3 --val-fraction 0.2 --patience 10" testdata/gb_lambda/tree
compare: deps all
	@command -v gnuplot >/dev/null 2>&1 || \
	  echo "make compare: gnuplot is not installed, so build/compare/curves.png is skipped (curves.tsv is written); apt-get install gnuplot-nox draws it"
	$(BIN) compare $(COMPARE_ARGS)

# Runs every test/reference/*.py but the st.py helper: gen_ops.py, hyenadna.py,
# caduceus.py and wav2vec2.py write testdata/golden/; check_convert_caduceus.py tests
# scripts/convert_caduceus.py and writes testdata/caduceus_tiny_ps.safetensors
# with testdata/golden/caduceus_tiny_ps_hidden.safetensors; check_convert_wav2vec2.py
# does the same for scripts/convert_wav2vec2.py (testdata/wav2vec2_tiny.safetensors).
# wav2vec2.py checks its twin against torchaudio's wav2vec2 (python3-torchaudio).
golden:
	@$(PYTHON) -c 'import torch' 2>/dev/null || { echo "make golden needs Debian's python3-torch: apt-get install python3-torch"; exit 1; }
	@$(PYTHON) -c 'import torchaudio' 2>/dev/null || { echo "make golden needs Debian's python3-torchaudio: apt-get install python3-torchaudio"; exit 1; }
	@for f in test/reference/*.py; do case $$f in */st.py) continue;; esac; echo "$(PYTHON) $$f"; $(PYTHON) $$f || exit 1; done

# `make install` puts the binary, libderfseq.a, the shared libderfseq.so
# (soname libderfseq.so.$(SOMAJOR), built from -fPIC objects in $(BUILD)/pic/ so the
# static library and the binary stay as they are), the headers (the tree's
# lib/ and models/ under include/derfseq/, with the umbrella derfseq.h, so
# -I$(PREFIX)/include alone finds <derfseq/derfseq.h>), derfseq.pc and the man
# pages under $(DESTDIR)$(PREFIX); `make uninstall` removes exactly those.
SOMAJOR  := $(firstword $(subst ., ,$(VERSION)))
SONAME   := libderfseq.so.$(SOMAJOR)
SOLIB    := $(BUILD)/libderfseq.so.$(VERSION)
PIC_OBJ  := $(LIB_SRC:%.c=$(BUILD)/pic/%.o)
HDR_DIRS := lib/core lib/io lib/nn models
INC      := $(DESTDIR)$(PREFIX)/include/derfseq
LIBDIR   := $(DESTDIR)$(PREFIX)/lib

$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fPIC -MMD -MP -c $< -o $@

$(SOLIB): $(PIC_OBJ)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,$(SONAME) -o $@ $^ $(LDLIBS)

install: all $(SOLIB)
	install -d $(DESTDIR)$(PREFIX)/bin $(LIBDIR)/pkgconfig $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/derfseq
	install -m 644 $(LIBA) $(LIBDIR)/libderfseq.a
	install -m 755 $(SOLIB) $(LIBDIR)/libderfseq.so.$(VERSION)
	ln -sf libderfseq.so.$(VERSION) $(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(LIBDIR)/libderfseq.so
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' \
	  'Name: derfseq' 'Description: Derf sequence models (HyenaDNA, Caduceus, wav2vec2) in C' \
	  'Version: $(VERSION)' 'Requires.private: $(PKGS)' 'Libs: -L$${libdir} -lderfseq' \
	  'Libs.private: -fopenmp -lm' 'Cflags: -I$${includedir}' > $(LIBDIR)/pkgconfig/derfseq.pc
	install -m 644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -d $(INC) && install -m 644 derfseq.h $(INC)/derfseq.h
	for d in $(HDR_DIRS); do install -d $(INC)/$$d && install -m 644 $$d/*.h $(INC)/$$d/ || exit 1; done

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/derfseq $(LIBDIR)/libderfseq.a $(LIBDIR)/libderfseq.so \
	  $(LIBDIR)/$(SONAME) $(LIBDIR)/libderfseq.so.$(VERSION) $(LIBDIR)/pkgconfig/derfseq.pc \
	  $(addprefix $(DESTDIR)$(PREFIX)/share/man/man1/,$(notdir $(wildcard man/*.1))) $(INC)/derfseq.h
	for d in $(HDR_DIRS); do for h in $$d/*.h; do rm -f $(INC)/$$h; done; \
	  rmdir $(INC)/$$d 2>/dev/null || true; done
	-rmdir $(INC)/lib $(INC) $(LIBDIR)/pkgconfig 2>/dev/null

# Installs what is missing with apt-get when run as root; otherwise prints
# the exact command and stops.  $(1): the Debian packages to check.
define check_debs
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "[deps] installing:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null || \
	      { echo "[deps] apt-get install failed for:$$missing"; exit 1; }; \
	  else \
	    echo "derfseq needs these Debian packages; run as root:"; \
	    echo "  sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi
endef

deps:
	$(call check_debs,$(DEB_PKGS))

# ---- fuzzing ---------------------------------------------------------------
# `make fuzz` builds one libFuzzer harness per input parser (test/fuzz/)
# with clang, ASan and UBSan into build-fuzz/ (never mixed with build/ or
# build-asan/), seeds build-fuzz/corpus/<name>/ from testdata/ and
# test/fuzz/seeds/, and runs the harnesses one after another for FUZZ_TIME
# seconds each (FUZZ_ONLY="npy fasta" picks some).  Any crash, leak or UBSan
# report fails the target; the input is kept in build-fuzz/artifacts/.
# clang is needed by this target only, so it is not in DEB_PKGS. -Wno-pass-failed:
# at -O1 with the sanitizers clang cannot honour every "omp simd", harmlessly.
FUZZ_DEB_PKGS := clang libclang-rt-dev libomp-dev
FUZZ_CC    ?= clang
FUZZ_TIME  ?= 30
FUZZ_NAMES := $(patsubst test/fuzz/fuzz_%.c,%,$(wildcard test/fuzz/fuzz_*.c))
FUZZ_ONLY  ?= $(FUZZ_NAMES)
FUZZ_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS = -g -O1 -fno-omit-frame-pointer -std=gnu11 -march=$(MARCH) -fopenmp $(WARN) -Wno-pass-failed -I. -Ilib -Imodels \
              -DDS_VERSION='"$(VERSION)"' -DDS_FUZZ_TESTDATA='"$(CURDIR)/testdata"' $(PKG_CFLAGS)
FUZZ_OBJ   := $(LIB_SRC:%.c=build-fuzz/%.o)

build-fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_SAN) -MMD -MP -c $< -o $@

build-fuzz/libderfseq.a: $(FUZZ_OBJ)
	@rm -f $@
	ar rcs $@ $^

build-fuzz/fuzz_%: test/fuzz/fuzz_%.c test/fuzz/fuzz.h build-fuzz/libderfseq.a
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< build-fuzz/libderfseq.a $(LDLIBS)

fuzz-build: $(FUZZ_NAMES:%=build-fuzz/fuzz_%)

fuzz:
	$(call check_debs,$(DEB_PKGS) $(FUZZ_DEB_PKGS))
	@$(MAKE) --no-print-directory fuzz-build
	@test/fuzz/make_corpus.sh build-fuzz/corpus
	@FUZZ_TIME=$(FUZZ_TIME) nice test/fuzz/run.sh build-fuzz $(FUZZ_ONLY)

clean:
	rm -rf build build-asan build-mpi build-mpi-asan build-fuzz derfseq

help:
	@echo "make [all]     build build/derfseq and build/libderfseq.a (MARCH=$(MARCH))"
	@echo "make test      install missing deps, build and run the test suite"
	@echo "make asan      the test suite under AddressSanitizer + UBSan"
	@echo "make MPI=1     data-parallel build (Open MPI) in build-mpi/; make MPI=1 test adds the mpirun equivalence test"
	@echo "make test-mpi  only the MPI equivalence test (builds build-mpi/derfseq)"
	@echo "make fuzz      libFuzzer harnesses of every input parser, FUZZ_TIME=$(FUZZ_TIME) s each (needs clang)"
	@echo "make bench     op and model benchmarks (see bench/README.md)"
	@echo "make demo      a small real job on testdata/"
	@echo "make compare   LayerNorm vs DyT vs Derf: pretrain, fine-tune over seeds, mean +- sd (COMPARE_ARGS)"
	@echo "make golden    regenerate testdata/golden (and the converted Caduceus fixture) with python3-torch"
	@echo "make install   PREFIX=$(PREFIX) [DESTDIR=]: binary, libderfseq.a and .so, headers, derfseq.pc, man pages"
	@echo "make uninstall removes exactly what make install put (same PREFIX, DESTDIR)"

-include $(LIB_OBJ:.o=.d) $(PIC_OBJ:.o=.d) $(CMD_OBJ:.o=.d) $(TEST_OBJ:.o=.d) $(wildcard build-fuzz/*/*/*.d build-fuzz/*/*.d)
