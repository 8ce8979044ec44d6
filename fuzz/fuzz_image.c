/* libFuzzer target: the JPEG/PNG decoders and the resize behind them
 * (src/data). Any input must return normally: an image or an error. The
 * pixel limit is lowered so that huge declared sizes fail fast. Inputs that
 * would be read as DICOM are left to the dicom target (FUZZ_EXTRA: GDCM's
 * open findings in fuzz/findings/ would make this target, which make test
 * runs, fail at random).
 * Built by `make fuzz` (the src/data decoder objects + libpneumo_core.a);
 * seeds: fuzz/corpus/image. */
#include <stdint.h>
#include <stdlib.h>

#include "data/dicom_internal.h"
#include "pneumo/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (pn__dicom_sniff(data, size)) return 0;
    pn_image img = {0}, out = {0};
    pn_error err;
    pn_decode_opts o = {.max_pixels = 4 << 20, .min_side = 1, .fast_decode = size & 1};
    if (pn_image_decode(data, size, "fuzz", &o, &img, &err) == PN_OK)
        pn_image_resize(&img, 7, 5, &out, &err);
    pn_image_free(&img);
    pn_image_free(&out);
    return 0;
}
