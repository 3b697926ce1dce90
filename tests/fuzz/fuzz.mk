# The libFuzzer harnesses (tests/fuzz/README.md), called by `make fuzz`,
# `make fuzz-smoke` and `make fuzz-coverage` of the main Makefile with
# every path and flag set on the command line. The core is compiled again
# here with clang, coverage instrumentation and the sanitizers, into OUT,
# apart from the gcc objects of the normal build; nothing here is part of
# the module.
#
# GNU make only (pattern rules); the main Makefile stays portable.

SRCDIR ?= $(error SRCDIR not set)
OUT ?= $(error OUT not set)
XSD_C ?= $(error XSD_C (the generated hmb_xsd.c) not set)
FUZZ_CC ?= clang

# The core units the harnesses reach: no ledger, no httpd.
CORE = hmb_money hmb_util hmb_xml hmb_plan hmb_message hmb_message_xml \
       hmb_message_json hmb_message_memo hmb_enroll hmb_engine hmb_hmbinfo hmb_hmbinfo_json
HARNESSES = fuzz_message fuzz_plan fuzz_json

# -fno-sanitize-recover: UBSan's findings (signed overflow) must stop the
# run like ASan's, so that libFuzzer keeps the input.
SAN = -fsanitize=address,undefined -fno-sanitize-recover=all
CPPFLAGS_F = -I$(SRCDIR)/include -I$(SRCDIR)/tests/fuzz -D_GNU_SOURCE \
	$(APR_CFLAGS) $(XML_CFLAGS) $(YAJL_CFLAGS) -DHMB_SRCDIR='"$(SRCDIR)"' \
	-DHMB_FUZZ_WORKDIR='"$(OUT)"'
CFLAGS_F = -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Werror \
	-Wno-unused-parameter $(SAN)
LIBS_F = $(APR_LIBS) $(XML_LIBS) $(YAJL_LIBS)

HEADERS = $(wildcard $(SRCDIR)/include/*.h) $(SRCDIR)/tests/fuzz/fuzz_common.h

all: $(HARNESSES:%=$(OUT)/%)

$(OUT)/obj $(OUT)/cov:
	mkdir -p $@

# Fuzzing: coverage feedback for libFuzzer, sanitizers on.
$(OUT)/obj/%.o: $(SRCDIR)/mod_huiminbao/%.c $(HEADERS) | $(OUT)/obj
	$(FUZZ_CC) $(CPPFLAGS_F) $(CFLAGS_F) -fsanitize=fuzzer-no-link \
	    -c $< -o $@
$(OUT)/obj/hmb_xsd.o: $(XSD_C) | $(OUT)/obj
	$(FUZZ_CC) $(CFLAGS_F) -c $< -o $@
$(OUT)/obj/%.o: $(SRCDIR)/tests/fuzz/%.c $(HEADERS) | $(OUT)/obj
	$(FUZZ_CC) $(CPPFLAGS_F) $(CFLAGS_F) -fsanitize=fuzzer-no-link \
	    -c $< -o $@

$(OUT)/%: $(OUT)/obj/%.o $(OUT)/obj/fuzz_common.o \
	    $(CORE:%=$(OUT)/obj/%.o) $(OUT)/obj/hmb_xsd.o
	$(FUZZ_CC) $(CFLAGS_F) -fsanitize=fuzzer $^ $(LIBS_F) -o $@

# Line coverage of the corpus (llvm-cov): the same harnesses with
# clang's source-based coverage and a main() that runs each file once.
COV = -fprofile-instr-generate -fcoverage-mapping
$(OUT)/cov/%.o: $(SRCDIR)/mod_huiminbao/%.c $(HEADERS) | $(OUT)/cov
	$(FUZZ_CC) $(CPPFLAGS_F) -g -O0 $(COV) -c $< -o $@
$(OUT)/cov/hmb_xsd.o: $(XSD_C) | $(OUT)/cov
	$(FUZZ_CC) -g -O0 -c $< -o $@
$(OUT)/cov/%.o: $(SRCDIR)/tests/fuzz/%.c $(HEADERS) | $(OUT)/cov
	$(FUZZ_CC) $(CPPFLAGS_F) -g -O0 $(COV) -c $< -o $@
$(OUT)/cov/%-cov: $(OUT)/cov/%.o $(OUT)/cov/fuzz_common.o \
	    $(OUT)/cov/fuzz_replay.o $(CORE:%=$(OUT)/cov/%.o) \
	    $(OUT)/cov/hmb_xsd.o
	$(FUZZ_CC) $(COV) $^ $(LIBS_F) -o $@

coverage-build: $(HARNESSES:%=$(OUT)/cov/%-cov)

.PHONY: all coverage-build
.SECONDARY:
