# pneumo — one Makefile, pkg-config for every dependency.
#
#   make            library (build/libpneumo.a) and CLI (build/pneumo)
#   make test       build and run every test; ends with "N passed, N failed"
#   make asan       the same tests under AddressSanitizer + UBSan (build-asan/)
#   make bench      benchmarks, pneumo beside PyTorch in the same run
#   make fuzz       libFuzzer targets (clang), FUZZ_SECONDS each
#   make deps       install the Debian packages (uses sudo when not root)
#
# WERROR=1 turns warnings into errors (CI does this).

CC      ?= gcc
BUILD   ?= build
PKGS    := libjpeg libpng libzip libcjson libcurl libarchive plplot libcrypto
DEBS    := build-essential pkg-config libdnnl-dev libjpeg62-turbo-dev libpng-dev libzip-dev \
           libcjson-dev libcurl4-openssl-dev libarchive-dev libplplot-dev plplot-driver-cairo \
           libssl-dev libcmocka-dev clang libclang-rt-dev python3 python3-torch python3-torchvision \
           python3-pil python3-numpy libgdcm-dev python3-pydicom python3-gdcm python3-pandas
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# GDCM (DICOM) ships no pkg-config file in Debian: its include folder and
# libraries by name. Its one user is src/data/dicom_gdcm.cc (C++).
GDCM_CFLAGS := -I$(firstword $(wildcard /usr/include/gdcm-3.*) /usr/include/gdcm-3.0)
GDCM_LIBS   := -lgdcmMSFF -lgdcmDSED -lgdcmCommon -lstdc++

OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
WARN    := -Wall -Wextra -Wshadow -Wno-unused-parameter
ifeq ($(WERROR),1)
WARN    += -Werror
endif
SAN     ?=
ALL_CFLAGS := -std=c17 -D_GNU_SOURCE -fPIC -pthread -Iinclude -Isrc $(WARN) $(CFLAGS) $(SAN) $(PKG_CFLAGS)
LDLIBS  := $(PKG_LIBS) $(GDCM_LIBS) -ldnnl -lgomp -lpthread -lm
LDFLAGS ?=

# Parity-critical code (decode, resize, normalize) must round exactly like
# Pillow and torchvision: no fast-math anywhere, and no FMA contraction here.
PARITY_CFLAGS := -ffp-contract=off -fno-fast-math

LIB_SRC  := $(shell find src -name '*.c' -not -path 'src/cli/*' | sort)
LIB_CXX  := $(sort $(wildcard src/data/*.cc))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TUTIL_SRC:= $(sort $(wildcard tests/util/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(LIB_CXX:%.cc=$(BUILD)/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/%.o)
TUTIL_OBJ:= $(TUTIL_SRC:%.c=$(BUILD)/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
LIB      := $(BUILD)/libpneumo.a
BIN      := $(BUILD)/pneumo

.PHONY: all test asan bench fuzz deps clean check-deps
all: $(BIN)

$(BUILD)/src/data/%.o: ALL_CFLAGS += $(PARITY_CFLAGS)
$(BUILD)/tests/%.o: ALL_CFLAGS += -Itests/util

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

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

$(BIN): $(CLI_OBJ) $(LIB)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS)

.SECONDARY:
$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TUTIL_OBJ) $(LIB)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(TUTIL_OBJ) $(LIB) $(LDLIBS) -lcmocka

# Tests read ../shared/data (override with PNEUMO_DATA) and Debian's python3.
test: $(BIN) $(TESTS)
	@BUILD=$(BUILD) tests/run.sh $(TESTS)

asan:
	$(MAKE) BUILD=build-asan OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

bench: $(BIN)
	@BUILD=$(BUILD) bench/run.sh

FUZZ_SECONDS ?= 60
fuzz:
	@FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh

# As root, or through sudo otherwise.
AS_ROOT := $(if $(filter 0,$(shell id -u)),,sudo)
deps:
	$(AS_ROOT) apt-get update
	$(AS_ROOT) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(DEBS)

clean:
	rm -rf build build-asan build-fuzz

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TUTIL_OBJ:.o=.d) $(TESTS:=.d)
