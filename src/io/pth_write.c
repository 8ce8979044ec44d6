/* .pth writer: a zip archive PyTorch's torch.load reads, written by hand.
 *
 * Why by hand and not with libzip: PyTorch aligns every record's data to 64
 * bytes by padding the local header's extra field ("FB" + len + 'Z'...), so
 * storages can be mmapped; libzip gives no control over where data lands.
 * The format needed is small: stored (uncompressed) records, local headers
 * with sizes and CRC-32 (zlib's crc32) up front, a central directory and the
 * end record.
 * Files above 4 GiB (which would need ZIP64) are refused.
 *
 * Records (as torch.save writes them, archive name = file name without
 * directory and extension):
 *   <ar>/data.pkl     pickle protocol 2: OrderedDict{name: _rebuild_tensor_v2(
 *                     persistent ('storage', torch.FloatStorage|LongStorage,
 *                     '<k>', 'cpu', numel), 0, size, stride, False, OrderedDict())}
 *   <ar>/byteorder    "little"
 *   <ar>/data/<k>     the raw little-endian bytes of tensor k
 *   <ar>/version      "3\n" */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "io/io_internal.h"
#include "pneumo/util.h"
#include "pneumo/weights.h"

#define ZIP_ALIGN 64

/* zlib's CRC-32 (the zip one), over any size */
static uint32_t crc32_buf(const void *p, size_t n)
{
    return (uint32_t)crc32_z(0L, (const Bytef *)p, (z_size_t)n);
}

/* little-endian integers into a pn__iobuf */
static void bb_u8(pn__iobuf *b, unsigned v)
{
    uint8_t x = (uint8_t)v;
    pn__iobuf_put(b, &x, 1);
}
static void bb_u16(pn__iobuf *b, unsigned v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    pn__iobuf_put(b, x, 2);
}
static void bb_u32(pn__iobuf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    pn__iobuf_put(b, x, 4);
}

/* ---- pickle ---- */

static void pk_int(pn__iobuf *b, int64_t v)
{
    if (v >= 0 && v < 256) {
        bb_u8(b, 'K');
        bb_u8(b, (unsigned)v);
    } else if (v >= 0 && v < 65536) {
        bb_u8(b, 'M');
        bb_u16(b, (unsigned)v);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        bb_u8(b, 'J');
        bb_u32(b, (uint32_t)(int32_t)v);
    } else { /* LONG1, 8 bytes two's complement */
        bb_u8(b, 0x8a);
        bb_u8(b, 8);
        uint64_t u = (uint64_t)v;
        for (int k = 0; k < 8; k++) bb_u8(b, (unsigned)(u >> (8 * k)) & 0xff);
    }
}

static void pk_str(pn__iobuf *b, const char *s)
{
    bb_u8(b, 'X');
    bb_u32(b, (uint32_t)strlen(s));
    pn__iobuf_str(b, s);
}

static void build_pickle(pn__iobuf *b, const pn_statedict *sd)
{
    pn__iobuf_str(b, "\x80\x02" "ccollections\nOrderedDict\n)R(");
    for (size_t i = 0; i < sd->n; i++) {
        const pn_tensor *t = &sd->t[i];
        char key[32];
        snprintf(key, sizeof key, "%zu", i);
        pk_str(b, t->name);
        pn__iobuf_str(b, "ctorch._utils\n_rebuild_tensor_v2\n((");
        pk_str(b, "storage");
        pn__iobuf_str(b, t->dtype == PN_I64 ? "ctorch\nLongStorage\n" : "ctorch\nFloatStorage\n");
        pk_str(b, key);
        pk_str(b, "cpu");
        pk_int(b, (int64_t)t->numel);
        pn__iobuf_str(b, "tQ");
        pk_int(b, 0);
        pn__iobuf_str(b, "(");
        for (int k = 0; k < t->ndim; k++) pk_int(b, t->shape[k]);
        pn__iobuf_str(b, "t(");
        int64_t stride = 1, strides[PN_MAX_DIMS];
        for (int k = t->ndim - 1; k >= 0; k--) {
            strides[k] = stride;
            stride *= t->shape[k] ? t->shape[k] : 1;
        }
        for (int k = 0; k < t->ndim; k++) pk_int(b, strides[k]);
        pn__iobuf_str(b, "t\x89" "ccollections\nOrderedDict\n)RtR");
    }
    pn__iobuf_str(b, "u.");
}

/* ---- zip ---- */

typedef struct rec {
    char *name;
    const void *data;
    uint64_t size;
    uint32_t crc;
    uint64_t offset; /* of the local header */
} rec;

/* Archive name: file name without folders and last extension. */
static void archive_name(const char *path, char *out, size_t outsz)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(out, outsz, "%s", base);
    char *dot = strrchr(out, '.');
    if (dot) *dot = '\0';
    int ok = out[0] != '\0';
    for (char *c = out; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == '\\') ok = 0;
    if (!ok) snprintf(out, outsz, "archive");
}

pn_status pn_pth_save(const char *path, const pn_statedict *sd, pn_error *err)
{
    for (size_t i = 0; i < sd->n; i++)
        if (sd->t[i].dtype != PN_F32 && sd->t[i].dtype != PN_I64)
            return pn_error_set(err, PN_E_ARG, "%s: tensor '%s' is %s in memory (float32 or int64 expected)",
                                path, sd->t[i].name, pn_dtype_name(sd->t[i].dtype));
    char ar[200];
    archive_name(path, ar, sizeof ar);
    pn_status st = PN_OK;
    pn__iobuf pkl = {0}, hdr = {0};
    size_t nrec = sd->n + 3;
    rec *r = calloc(nrec, sizeof *r);
    if (!r) return pn_error_set(err, PN_E_NOMEM, "%s: out of memory", path);
    build_pickle(&pkl, sd);
    if (pkl.oom) {
        st = pn_error_set(err, PN_E_NOMEM, "%s: out of memory", path);
        goto done;
    }
    size_t k = 0;
    char nm[256];
    snprintf(nm, sizeof nm, "%s/data.pkl", ar);
    r[k].name = strdup(nm), r[k].data = pkl.p, r[k].size = pkl.n, k++;
    snprintf(nm, sizeof nm, "%s/byteorder", ar);
    r[k].name = strdup(nm), r[k].data = "little", r[k].size = 6, k++;
    for (size_t i = 0; i < sd->n; i++) {
        snprintf(nm, sizeof nm, "%s/data/%zu", ar, i);
        r[k].name = strdup(nm);
        r[k].data = sd->t[i].data;
        r[k].size = (uint64_t)sd->t[i].numel * pn_dtype_size(sd->t[i].dtype);
        k++;
    }
    snprintf(nm, sizeof nm, "%s/version", ar);
    r[k].name = strdup(nm), r[k].data = "3\n", r[k].size = 2, k++;
    for (size_t i = 0; i < nrec; i++) {
        if (!r[i].name) {
            st = pn_error_set(err, PN_E_NOMEM, "%s: out of memory", path);
            goto done;
        }
        r[i].crc = crc32_buf(r[i].data, (size_t)r[i].size);
    }
    pn_afile af;
    if ((st = pn_afile_open(&af, path, err))) goto done;
    uint64_t off = 0;
    char zs[ZIP_ALIGN];
    memset(zs, 'Z', sizeof zs);
    for (size_t i = 0; i < nrec; i++) {
        size_t nl = strlen(r[i].name);
        uint64_t data_at = off + 30 + nl + 4;
        size_t padn = (size_t)((ZIP_ALIGN - data_at % ZIP_ALIGN) % ZIP_ALIGN);
        r[i].offset = off;
        hdr.n = 0;
        bb_u32(&hdr, 0x04034b50);
        bb_u16(&hdr, 20); /* version needed */
        bb_u16(&hdr, 0);  /* flags */
        bb_u16(&hdr, 0);  /* stored */
        bb_u16(&hdr, 0);  /* time */
        bb_u16(&hdr, 0);  /* date */
        bb_u32(&hdr, r[i].crc);
        bb_u32(&hdr, (uint32_t)r[i].size);
        bb_u32(&hdr, (uint32_t)r[i].size);
        bb_u16(&hdr, (unsigned)nl);
        bb_u16(&hdr, (unsigned)(4 + padn));
        pn__iobuf_put(&hdr, r[i].name, nl);
        pn__iobuf_str(&hdr, "FB");
        bb_u16(&hdr, (unsigned)padn);
        pn__iobuf_put(&hdr, zs, padn);
        if (hdr.oom) break;
        fwrite(hdr.p, 1, hdr.n, af.f);
        if (r[i].size) fwrite(r[i].data, 1, (size_t)r[i].size, af.f);
        off += hdr.n + r[i].size;
        if (off > 0xffffffffu) break;
    }
    uint64_t cd_at = off;
    hdr.n = 0;
    for (size_t i = 0; i < nrec; i++) {
        size_t nl = strlen(r[i].name);
        bb_u32(&hdr, 0x02014b50);
        bb_u16(&hdr, 20); /* made by */
        bb_u16(&hdr, 20); /* needed */
        bb_u16(&hdr, 0);
        bb_u16(&hdr, 0);
        bb_u16(&hdr, 0);
        bb_u16(&hdr, 0);
        bb_u32(&hdr, r[i].crc);
        bb_u32(&hdr, (uint32_t)r[i].size);
        bb_u32(&hdr, (uint32_t)r[i].size);
        bb_u16(&hdr, (unsigned)nl);
        bb_u16(&hdr, 0); /* extra */
        bb_u16(&hdr, 0); /* comment */
        bb_u16(&hdr, 0); /* disk */
        bb_u16(&hdr, 0); /* internal attributes */
        bb_u32(&hdr, 0); /* external attributes */
        bb_u32(&hdr, (uint32_t)r[i].offset);
        pn__iobuf_put(&hdr, r[i].name, nl);
    }
    uint64_t cd_size = hdr.n;
    bb_u32(&hdr, 0x06054b50);
    bb_u16(&hdr, 0);
    bb_u16(&hdr, 0);
    bb_u16(&hdr, (unsigned)nrec);
    bb_u16(&hdr, (unsigned)nrec);
    bb_u32(&hdr, (uint32_t)cd_size);
    bb_u32(&hdr, (uint32_t)cd_at);
    bb_u16(&hdr, 0);
    if (hdr.oom || off > 0xffffffffu || cd_at + cd_size > 0xffffffffu || nrec > 0xffff) {
        pn_afile_abort(&af);
        st = hdr.oom ? pn_error_set(err, PN_E_NOMEM, "%s: out of memory", path)
                     : pn_error_set(err, PN_E_UNSUPPORTED,
                                    "%s: over 4 GiB or 65535 tensors (would need ZIP64)", path);
        goto done;
    }
    fwrite(hdr.p, 1, hdr.n, af.f);
    st = pn_afile_commit(&af, err);
done:
    for (size_t i = 0; i < nrec; i++) free(r[i].name);
    free(r);
    free(pkl.p);
    free(hdr.p);
    return st;
}
