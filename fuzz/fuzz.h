/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared by the fuzz targets and make-corpus: the libFuzzer entry point's
 * prototype and the fixed master key that fuzz-blob decodes with, so that
 * encrypted seeds in the corpus decode successfully and the fuzzer starts
 * from inputs that reach the decompressor and the ID check. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct lb_master_key fuzz_key __attribute__((unused)) = {
        .enc = { 0x66, 0x75, 0x7a, 0x7a, 0x2d, 0x65, 0x6e, 0x63, 1, 2, 3, 4, 5, 6, 7, 8,
                 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24 },
        .id = { 0x66, 0x75, 0x7a, 0x7a, 0x2d, 0x69, 0x64, 0x21, 101, 102, 103, 104, 105, 106, 107, 108,
                109, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124 },
};
