/* libFuzzer target: the DICOM reader (src/data/dicom*.c, GDCM behind the
 * structure walk) and the display rule, through pn_image_decode: every input
 * gets the 128-byte preamble and "DICM" so that it is read as DICOM (the
 * image target reaches DICOM only when the fuzzer finds that prefix).
 * Built by `make fuzz`; seeds: fuzz/corpus/dicom (files made from the
 * shared data's test tree, see fuzz/corpus/dicom/README). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size + 132);
    if (!buf) return 0;
    memset(buf, 0, 128);
    memcpy(buf + 128, "DICM", 4);
    if (size) memcpy(buf + 132, data, size);
    pn_image img = {0};
    pn_error err;
    pn_decode_opts o = {.max_pixels = 4 << 20, .min_side = 1};
    pn_image_decode(buf, size + 132, "fuzz.dcm", &o, &img, &err);
    pn_image_free(&img);
    free(buf);
    return 0;
}
