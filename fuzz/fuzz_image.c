/* libFuzzer target: the image decoders (JPEG, PNG, and DICOM when the
 * input is read as DICOM: the structure walk, GDCM, the display rule) and
 * the resize behind them (src/data). Any input must return normally: an
 * image or an error. The pixel limit is lowered so that huge declared sizes
 * fail fast. (The dicom target fuzzes DICOM alone, every input made DICOM.)
 * Built by `make fuzz` (the src/data decoder objects + libpneumo_core.a);
 * seeds: fuzz/corpus/image. */
#include <stdint.h>
#include <stdlib.h>

#include "pneumo/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pn_image img = {0}, out = {0};
    pn_error err;
    pn_decode_opts o = {.max_pixels = 4 << 20, .min_side = 1, .fast_decode = size & 1};
    if (pn_image_decode(data, size, "fuzz", &o, &img, &err) == PN_OK)
        pn_image_resize(&img, 7, 5, &out, &err);
    pn_image_free(&img);
    pn_image_free(&out);
    return 0;
}
