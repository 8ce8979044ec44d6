/* Format detection and the load-anything entry point. */
#include <string.h>

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
        return pn_error_set(err, PN_E_FORMAT,
                            n < 9 ? "%s: truncated: %zu bytes is too short for a weights file"
                                  : "%s: wrong magic: not a .pth (zip or legacy) or safetensors "
                                    "file (%zu bytes)",
                            name, n);
    }
}

pn_status pn_weights_load(const char *path, pn_statedict *sd, pn_error *err)
{
    return pn__io_load_path(path, pn_weights_load_mem, sd, err);
}
