# pneumo — one Makefile, pkg-config for every dependency.
#
#   make            library (build/libpneumo.a) and CLI (build/pneumo)
#   make test       build and run every test; ends with "N passed, N failed"
#   make asan       the same tests under AddressSanitizer + UBSan (build-asan/)
#   make bench      benchmarks, pneumo beside PyTorch in the same run
#   make bench-scratch  ResNet-18 from scratch on PneumoniaMNIST (80 min; not in make bench)
#   make fuzz       libFuzzer targets (clang, build-fuzz/), FUZZ_SECONDS each;
#                   make test runs each for 3 s (tests/test_fuzz.sh)
#   make deps       install the Debian packages (uses sudo when not root)
#
# MPI=1 links Open MPI (pkg-config ompi-c) for mpirun/srun runs; MPI=0 builds
# the single-process pneumo. Default: 1 when pkg-config finds ompi-c. Either
# build runs as one plain process without mpirun (docs/mpi.md).
#
# WERROR=1 turns warnings into errors (CI does this).

CC      ?= gcc
BUILD   ?= build
PKGS    := libjpeg libpng libzip zlib libcjson libcurl cairo freetype2 libcrypto libmicrohttpd
DEBS    := build-essential pkg-config libdnnl-dev libjpeg62-turbo-dev libpng-dev libzip-dev \
           zlib1g-dev libcjson-dev libcurl4-openssl-dev libcairo2-dev libfreetype-dev fonts-dejavu-core \
           libssl-dev libcmocka-dev clang libclang-rt-dev python3 python3-torch python3-torchvision \
           python3-pil python3-numpy libmicrohttpd-dev chromium libgdcm-dev python3-pydicom \
           python3-gdcm python3-pandas python3-scipy openmpi-bin libopenmpi-dev
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# GDCM (DICOM) ships no pkg-config file in Debian: its include folder and
# libraries by name (its headers as system headers: their own warnings are
# not ours). Its one user is src/data/dicom_gdcm.cc (C++).
GDCM_CFLAGS := -isystem $(firstword $(wildcard /usr/include/gdcm-3.*) /usr/include/gdcm-3.0)
GDCM_LIBS   := -lgdcmMSFF -lgdcmDSED -lgdcmCommon -lstdc++

# Open MPI: only src/dist/ includes mpi.h (as a system header); everything
# links libmpi. dist.o depends on a stamp naming the choice, so switching
# MPI rebuilds it.
MPI     ?= $(shell pkg-config --exists ompi-c 2>/dev/null && echo 1 || echo 0)
ifeq ($(MPI),1)
MPI_CFLAGS := -DPN_HAVE_MPI $(patsubst -I%,-isystem %,$(shell pkg-config --cflags ompi-c))
MPI_LIBS   := $(shell pkg-config --libs ompi-c)
endif

OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
WARN    := -Wall -Wextra -Wshadow -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN    += -Werror
endif
SAN     ?=
ALL_CFLAGS := -std=c17 -D_GNU_SOURCE -fPIC -pthread -Iinclude -Isrc $(WARN) $(CFLAGS) $(SAN) $(PKG_CFLAGS)
LDLIBS  := $(PKG_LIBS) $(MPI_LIBS) $(GDCM_LIBS) -ldnnl -lgomp -lpthread -lm
LDFLAGS ?=

# Parity-critical code (decode, resize, normalize) must round exactly like
# Pillow and torchvision: no fast-math anywhere, and no FMA contraction here.
PARITY_CFLAGS := -ffp-contract=off -fno-fast-math

LIB_SRC  := $(shell find src -name '*.c' -not -path 'src/cli/*' | sort)
LIB_CXX  := $(sort $(wildcard src/data/*.cc))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TUTIL_SRC:= $(sort $(wildcard tests/util/*.c))
# The web page of 'pneumo serve' (web/index.html), embedded as a C array.
WEB_OBJ  := $(BUILD)/gen/web_index.o
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(LIB_CXX:%.cc=$(BUILD)/%.o) $(WEB_OBJ)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TUTIL_OBJ:= $(TUTIL_SRC:%.c=$(BUILD)/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
LIB      := $(BUILD)/libpneumo.a
BIN      := $(BUILD)/pneumo
# src/core (libc + libcrypto only) on its own, for the fuzz targets
CORE_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(sort $(wildcard src/core/*.c)))
CORE_LIB := $(BUILD)/libpneumo_core.a
# the CLI without main(), so tests can link its drawer and option table
CLI_LIB  := $(BUILD)/libpneumo_cli.a

.PHONY: all test asan bench bench-scratch fuzz fuzz-bins deps clean check-deps
all: $(BIN) $(CORE_LIB)

$(BUILD)/src/data/%.o: ALL_CFLAGS += $(PARITY_CFLAGS)
$(BUILD)/tests/%.o: ALL_CFLAGS += -Itests/util
$(BUILD)/src/dist/%.o: ALL_CFLAGS += $(MPI_CFLAGS)
$(BUILD)/src/dist/dist.o: $(BUILD)/gen/mpi-$(MPI).stamp
$(BUILD)/gen/mpi-$(MPI).stamp:
	@mkdir -p $(dir $@)
	rm -f $(BUILD)/gen/mpi-*.stamp && touch $@

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/gen/web_index.c: web/index.html
	@mkdir -p $(dir $@)
	{ echo '/* generated from web/index.html by the Makefile */'; \
	  echo '#include <stddef.h>'; \
	  echo 'extern const unsigned char pn__web_index[]; extern const size_t pn__web_index_len;'; \
	  echo 'const unsigned char pn__web_index[] = {'; \
	  od -An -v -tx1 $< | sed 's/ *\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '};'; echo 'const size_t pn__web_index_len = sizeof pn__web_index;'; } >$@.tmp && mv $@.tmp $@

$(WEB_OBJ): $(BUILD)/gen/web_index.c
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# The one C++ file (the GDCM bridge): C++17, same warnings, no exceptions out.
CXX     ?= g++
ALL_CXXFLAGS := -std=c++17 -D_GNU_SOURCE -fPIC -pthread -Iinclude -Isrc $(WARN) $(CFLAGS) $(SAN) \
                $(GDCM_CFLAGS)
$(BUILD)/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(ALL_CXXFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(CORE_LIB): $(CORE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(CLI_LIB): $(filter-out $(BUILD)/src/cli/main.o,$(CLI_OBJ))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BIN): $(CLI_OBJ) $(LIB)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS)

# bench/bench_train.sh's pneumo side (the library's link line: MPI, GDCM)
$(BUILD)/bench/engine_train: bench/engine_train.c $(BUILD)/src/cli/bench_run.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/src/cli/bench_run.o $(LIB) $(LDLIBS)

.SECONDARY:
$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TUTIL_OBJ) $(CLI_LIB) $(LIB)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(TUTIL_OBJ) $(CLI_LIB) $(LIB) $(LDLIBS) -lcmocka

# Tests read ../shared/data (override with PNEUMO_DATA) and Debian's python3.
test: $(BIN) $(TESTS)
	@BUILD=$(BUILD) tests/run.sh $(TESTS)

asan:
	$(MAKE) BUILD=build-asan OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

bench: $(BIN)
	@BUILD=$(BUILD) bench/run.sh

# ResNet-18 from scratch on PneumoniaMNIST beside MedMNIST v2's table (80 min)
bench-scratch: $(BIN)
	@BENCH_SCRATCH=1 PNEUMO_BIN=$(CURDIR)/$(BIN) bash bench/bench_scratch.sh

# libFuzzer targets: clang, ASan + UBSan, objects in build-fuzz/ built by
# the rules above (no folder globbing: each target links the objects of the
# code it fuzzes and libpneumo_core.a). fuzz/run.sh runs them.
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_CXX     ?= clang++
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
                -fno-sanitize=vptr
FUZZ_TARGETS := pickle pth safetensors image npy multipart csv dicom
# targets built but run only by name (fuzz/run.sh NAME), not by make test
FUZZ_EXTRA   :=
IO_OBJ       := $(patsubst %.c,$(BUILD)/%.o,$(sort $(wildcard src/io/*.c)) src/model/arch.c)
IMAGE_OBJ    := $(addprefix $(BUILD)/src/data/,image.o jpeg.o png.o resize.o dicom.o dicom_walk.o jpeg_markers.o \
                dicom_gdcm.o)
NPY_OBJ      := $(BUILD)/src/data/npy.o
DATA_OBJ     := $(patsubst %.c,$(BUILD)/%.o,$(sort $(wildcard src/data/*.c))) $(BUILD)/src/data/dicom_gdcm.o
FUZZ_DATA_LIBS:= $(shell pkg-config --libs libjpeg libpng libzip zlib libcrypto 2>/dev/null) $(GDCM_LIBS)
FUZZ_IO_LIBS := $(shell pkg-config --libs libzip zlib libcjson libcrypto 2>/dev/null)
FUZZ_IMG_LIBS:= $(shell pkg-config --libs libjpeg libpng zlib libcrypto 2>/dev/null) $(GDCM_LIBS)

fuzz:
	$(MAKE) BUILD=build-fuzz CC=$(FUZZ_CC) CXX=$(FUZZ_CXX) OPT=-O1 SAN="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" fuzz-bins
	@FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh

fuzz-bins: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%) $(FUZZ_EXTRA:%=$(BUILD)/fuzz/fuzz_%)

$(BUILD)/fuzz/fuzz_pickle $(BUILD)/fuzz/fuzz_pth $(BUILD)/fuzz/fuzz_safetensors: \
		$(BUILD)/fuzz/fuzz_%: $(BUILD)/fuzz/fuzz_%.o $(IO_OBJ) $(CORE_LIB)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $< $(IO_OBJ) $(CORE_LIB) $(FUZZ_IO_LIBS) -lm -lpthread
$(BUILD)/fuzz/fuzz_image: $(BUILD)/fuzz/fuzz_image.o $(IMAGE_OBJ) $(CORE_LIB)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(FUZZ_IMG_LIBS) -lm -lpthread
$(BUILD)/fuzz/fuzz_dicom: $(BUILD)/fuzz/fuzz_dicom.o $(IMAGE_OBJ) $(CORE_LIB)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(FUZZ_IMG_LIBS) -lm -lpthread
$(BUILD)/fuzz/fuzz_csv: $(BUILD)/fuzz/fuzz_csv.o $(filter-out $(BUILD)/src/data/augment.o,$(DATA_OBJ)) $(CORE_LIB)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $^ $(FUZZ_DATA_LIBS) -lm -lpthread
$(BUILD)/fuzz/fuzz_npy: $(BUILD)/fuzz/fuzz_npy.o $(NPY_OBJ) $(CORE_LIB)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $^ -lm
$(BUILD)/fuzz/fuzz_multipart: $(BUILD)/fuzz/fuzz_multipart.o $(BUILD)/src/serve/multipart.o $(CORE_LIB)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -o $@ $^ -lm

# As root, or through sudo otherwise.
AS_ROOT := $(if $(filter 0,$(shell id -u)),,sudo)
deps:
	$(AS_ROOT) apt-get update
	$(AS_ROOT) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEBS)

# make -s print-VAR: the value of a variable (tests and bench scripts ask)
print-%:
	@echo $($*)

clean:
	rm -rf build build-asan build-fuzz

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TUTIL_OBJ:.o=.d) $(TESTS:=.d) \
         $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%.d) $(FUZZ_EXTRA:%=$(BUILD)/fuzz/fuzz_%.d)
