/* libFuzzer target: the safetensors reader (see harness.h). */
#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fz_safetensors(data, size); }
