/* Format detection and the load-anything entry point. */
#include <string.h>
#include <sys/stat.h>

#include "io/io_internal.h"
#include "pneumo/weights.h"

pn_weights_format pn_weights_detect(const void *head, size_t n)
{
    const uint8_t *p = head;
    if (n >= 4 && !memcmp(p, "PK\x03\x04", 4)) return PN_FMT_PTH_ZIP;
    /* legacy: PROTO 2, LONG1 of 10 bytes (the magic number) */
    if (n >= 4 && p[0] == 0x80 && p[1] == 0x02 && p[2] == 0x8a && p[3] == 0x0a)
        return PN_FMT_PTH_LEGACY;
    if (n >= 9 && pn__le64(p) <= 100000000ull && p[8] == '{') return PN_FMT_SAFETENSORS;
    return PN_FMT_UNKNOWN;
}

const char *pn_weights_format_name(pn_weights_format f)
{
    switch (f) {
    case PN_FMT_SAFETENSORS: return "safetensors";
    case PN_FMT_PTH_ZIP: return "pth (zip)";
    case PN_FMT_PTH_LEGACY: return "pth (legacy)";
    default: return "unknown";
    }
}

pn_status pn_weights_load_mem(const void *buf, size_t n, const char *name, pn_statedict *sd,
                              pn_error *err)
{
    if (!name) name = "<memory>";
    switch (pn_weights_detect(buf, n)) {
    case PN_FMT_SAFETENSORS: return pn_safetensors_load_mem(buf, n, name, sd, err);
    case PN_FMT_PTH_ZIP:
    case PN_FMT_PTH_LEGACY: return pn_pth_load_mem(buf, n, name, sd, err);
    default:
        pn_statedict_init(sd);
        {
            const uint8_t *p = buf;
            const char *img = n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff ? "a JPEG image"
                              : n >= 8 && !memcmp(p, "\x89PNG\r\n\x1a\n", 8)  ? "a PNG image"
                              : n >= 132 && !memcmp(p + 128, "DICM", 4)          ? "a DICOM image"
                                                                                   : NULL;
            if (img)
                return pn_error_set(err, PN_E_FORMAT,
                                    "%s is %s, not a model file (did you swap the model and an "
                                    "image?)",
                                    name, img);
            /* ONNX: a protobuf ModelProto, field 1 (ir_version) first, and the
             * producer or opset names "onnx"/"pytorch"/"pneumo" near the start */
            size_t k = n < 256 ? n : 256;
            if (n >= 2 && p[0] == 0x08 &&
                (memmem(p, k, "onnx", 4) || memmem(p, k, "pytorch", 7) || memmem(p, k, "pneumo", 6)))
                return pn_error_set(err, PN_E_UNSUPPORTED,
                                    "%s is an ONNX model: pneumo reads .pth and safetensors (ONNX "
                                    "is for ONNX Runtime; give the .pth or safetensors file it "
                                    "was exported from)",
                                    name);
        }
        return pn_error_set(err, PN_E_FORMAT,
                            n < 9 ? "%s: truncated: %zu bytes is too short for a weights file"
                                  : "%s: wrong magic: not a .pth (zip or legacy) or safetensors "
                                    "file (%zu bytes)",
                            name, n);
    }
}

pn_status pn_weights_load(const char *path, pn_statedict *sd, pn_error *err)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        pn_statedict_init(sd);
        return pn_error_set(err, PN_E_ARG,
                            "%s is a folder, not a model file (did you swap the model and the "
                            "images?)",
                            path);
    }
    return pn__io_load_path(path, pn_weights_load_mem, sd, err);
}
