/* PyTorch .pth reader: the zip format (libzip) and the legacy pre-1.6
 * format, both decoded with the safe pickle subset of pickle.c.
 *
 * zip:    <ar>/data.pkl, <ar>/data/<key> (raw storage bytes),
 *         <ar>/byteorder ("little" when absent), <ar>/version, ...
 * legacy: pickle(magic) pickle(1001) pickle(sys_info) pickle(object)
 *         pickle([storage keys]) then per key: int64 numel + raw bytes. */
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "io/io_internal.h"
#include "io/pickle.h"
#include "pneumo/weights.h"

#define PTH_MAX_PICKLE (256u << 20)

/* One storage a tensor points at, and its bytes once found. */
typedef struct sref {
    const char *key;
    const char *type;
    int dtype;
    int64_t numel;
    const uint8_t *data;
    size_t len;
    uint8_t *owned; /* zip: the record, freed after its last tensor */
    size_t uses;    /* zip: tensors still to convert from it */
} sref;

static int cmp_sref(const void *a, const void *b)
{
    return strcmp(((const sref *)a)->key, ((const sref *)b)->key);
}

static sref *find_sref(sref *s, size_t n, const char *key)
{
    sref k = {.key = key};
    return bsearch(&k, s, n, sizeof *s, cmp_sref);
}

/* Sorts, checks that repeated keys agree, drops repeats; returns new count
 * or (size_t)-1 with an error set. */
static size_t uniq_srefs(sref *s, size_t n, const char *file, pn_error *err)
{
    if (!n) return 0;
    qsort(s, n, sizeof *s, cmp_sref);
    size_t k = 1;
    for (size_t i = 1; i < n; i++) {
        if (!strcmp(s[i].key, s[k - 1].key)) {
            if (s[i].dtype != s[k - 1].dtype || s[i].numel != s[k - 1].numel) {
                pn_error_set(err, PN_E_FORMAT,
                             "%s: storage '%s' is described twice with different types or sizes",
                             file, s[i].key);
                return (size_t)-1;
            }
            s[k - 1].uses += s[i].uses;
            continue;
        }
        s[k++] = s[i];
    }
    return k;
}

/* Finds the state_dict in the unpickled object. */
static int all_tensors(const pn__pk_value *d)
{
    for (size_t i = 0; i + 1 < d->u.seq.n; i += 2)
        if (d->u.seq.v[i]->kind != PK_STR || d->u.seq.v[i + 1]->kind != PK_TENSOR) return 0;
    return 1;
}

static pn_status find_state_dict(const pn__pk_value *root, const char *file, const pn__pk_value **out,
                                 pn_error *err)
{
    if (root->kind != PK_DICT)
        return pn_error_set(err, PN_E_FORMAT,
                            "%s: the pickled object is a %s, not a state_dict (a dict of tensors)",
                            file, pn__pk_kind_name(root->kind));
    if (all_tensors(root)) {
        *out = root;
        return PN_OK;
    }
    static const char *keys[] = {"state_dict", "model_state_dict", "model"};
    for (size_t k = 0; k < 3; k++) {
        const pn__pk_value *v = pn__pk_dict_get(root, keys[k]);
        if (v && v->kind == PK_DICT && all_tensors(v)) {
            *out = v;
            return PN_OK;
        }
    }
    const char *bad = "?";
    for (size_t i = 0; i + 1 < root->u.seq.n; i += 2) {
        if (root->u.seq.v[i]->kind != PK_STR) {
            bad = "(a non-string key)";
            break;
        }
        if (root->u.seq.v[i + 1]->kind != PK_TENSOR) {
            bad = root->u.seq.v[i]->u.str.s;
            break;
        }
    }
    return pn_error_set(err, PN_E_FORMAT,
                        "%s: not a state_dict: entry '%.100s' is not a tensor, and there is no "
                        "'state_dict', 'model_state_dict' or 'model' dict of tensors",
                        file, bad);
}

/* The storages the state_dict's tensors use (unique, sorted by key). */
static pn_status collect_srefs(const pn__pk_value *d, const char *file, sref **out, size_t *nout,
                               pn_error *err)
{
    size_t nt = d->u.seq.n / 2;
    sref *s = calloc(nt ? nt : 1, sizeof *s);
    if (!s) return pn_error_set(err, PN_E_NOMEM, "%s: out of memory", file);
    for (size_t i = 0; i < nt; i++) {
        const pn__pk_value *st = d->u.seq.v[2 * i + 1]->u.tensor.storage;
        s[i].key = st->u.storage.key;
        s[i].type = st->u.storage.type;
        s[i].dtype = st->dtype;
        s[i].numel = st->u.storage.numel;
        s[i].uses = 1;
    }
    size_t n = uniq_srefs(s, nt, file, err);
    if (n == (size_t)-1) {
        free(s);
        return err ? err->code : PN_E_FORMAT;
    }
    *out = s;
    *nout = n;
    return PN_OK;
}

static void free_srefs(sref *s, size_t n)
{
    for (size_t i = 0; s && i < n; i++) free(s[i].owned);
    free(s);
}

static pn_status zip_load_storage(zip_t *za, const char *prefix, sref *r, const char *file,
                                  pn_error *err);

/* Converts the state_dict's tensors, whose storages are all described in
 * s[]. With a zip (za), each storage record is read when first needed and
 * freed after its last tensor, so at most one record is held at a time. */
static pn_status build_sd(const pn__pk_value *d, sref *s, size_t ns, zip_t *za, const char *prefix,
                          const char *file, pn_statedict *sd, pn_error *err)
{
    size_t nt = d->u.seq.n / 2;
    const char **names = calloc(nt ? nt : 1, sizeof *names);
    if (!names) return pn_error_set(err, PN_E_NOMEM, "%s: out of memory", file);
    for (size_t i = 0; i < nt; i++) names[i] = d->u.seq.v[2 * i]->u.str.s;
    const char *dup = NULL;
    int dd = pn__io_find_duplicate(names, nt, &dup);
    free(names);
    if (dd) return dd < 0 ? pn_error_set(err, PN_E_NOMEM, "%s: out of memory", file)
                          : pn_error_set(err, PN_E_FORMAT, "%s: tensor '%s' appears twice", file, dup);
    for (size_t i = 0; i < nt; i++) {
        const char *name = d->u.seq.v[2 * i]->u.str.s;
        const pn__pk_value *t = d->u.seq.v[2 * i + 1];
        const pn__pk_value *stv = t->u.tensor.storage;
        sref *r = find_sref(s, ns, stv->u.storage.key);
        if (r && r->dtype == PK_DTYPE_UNSUPPORTED)
            return pn_error_set(err, PN_E_UNSUPPORTED,
                                "%s: tensor '%s' is a torch.%s (supported: float32/16, bfloat16, "
                                "float64, int64/32, uint8, int8, bool)",
                                file, name, r->type);
        if (r && !r->data && za) {
            pn_status ls = zip_load_storage(za, prefix, r, file, err);
            if (ls) return ls;
        }
        if (!r || !r->data)
            return pn_error_set(err, PN_E_FORMAT, "%s: tensor '%s': storage '%s' not found", file,
                                name, stv->u.storage.key);
        size_t esz = pn_dtype_size((pn_dtype)r->dtype);
        int ndim = t->u.tensor.ndim;
        const int64_t *shape = t->u.tensor.shape, *stride = t->u.tensor.stride;
        char sbuf[160], tbuf[160];
        int ovf = 0;
        size_t numel = pn_shape_numel(ndim, shape, &ovf);
        if (ovf || (numel && esz > SIZE_MAX / numel))
            return pn_error_set(err, PN_E_FORMAT, "%s: tensor '%s': shape %s overflows", file, name,
                                pn_shape_str(ndim, shape, sbuf, sizeof sbuf));
        if (numel) {
            int64_t want = 1;
            for (int k = ndim - 1; k >= 0; k--) {
                if (shape[k] != 1 && stride[k] != want)
                    return pn_error_set(
                        err, PN_E_UNSUPPORTED,
                        "%s: tensor '%s' is not contiguous (shape %s, stride %s); save "
                        "t.contiguous() instead",
                        file, name, pn_shape_str(ndim, shape, sbuf, sizeof sbuf),
                        pn_shape_str(ndim, stride, tbuf, sizeof tbuf));
                want *= shape[k];
            }
        }
        int64_t off = t->u.tensor.offset;
        if (off < 0 || (uint64_t)off > (uint64_t)r->numel || numel > (uint64_t)(r->numel - off))
            return pn_error_set(err, PN_E_FORMAT,
                                "%s: tensor '%s': offset %lld + %zu elements run past its storage "
                                "'%s' of %lld elements",
                                file, name, (long long)off, numel, r->key, (long long)r->numel);
        pn_status st = pn__io_sd_push(sd, name, (pn_dtype)r->dtype, ndim, shape, numel,
                                     r->data + (size_t)off * esz, err);
        if (st) {
            pn_error_prefix(err, "%s: ", file);
            return st; /* (err may be NULL) */
        }
        if (r->owned && --r->uses == 0) {
            free(r->owned);
            r->owned = NULL;
            r->data = NULL;
        }
    }
    return PN_OK;
}

/* Bytes a storage must have; (uint64_t)-1 on overflow or unsupported dtype. */
static uint64_t storage_bytes(const sref *r)
{
    if (r->dtype == PK_DTYPE_UNSUPPORTED || r->numel < 0) return (uint64_t)-1;
    uint64_t esz = pn_dtype_size((pn_dtype)r->dtype);
    if ((uint64_t)r->numel > UINT64_MAX / esz) return (uint64_t)-1;
    return (uint64_t)r->numel * esz;
}

/* ---- zip ------------------------------------------------------------------- */

static pn_status zip_read(zip_t *za, const char *name, uint64_t maxlen, int must_exist,
                          uint8_t **out, size_t *len, const char *file, pn_error *err)
{
    *out = NULL;
    *len = 0;
    zip_int64_t idx = zip_name_locate(za, name, 0);
    if (idx < 0)
        return must_exist ? pn_error_set(err, PN_E_FORMAT, "%s: zip has no record '%s'", file, name)
                          : PN_E_NOTFOUND;
    zip_stat_t zs;
    zip_stat_init(&zs);
    if (zip_stat_index(za, (zip_uint64_t)idx, 0, &zs) != 0 || !(zs.valid & ZIP_STAT_SIZE) ||
        !(zs.valid & ZIP_STAT_COMP_SIZE) || !(zs.valid & ZIP_STAT_COMP_METHOD))
        return pn_error_set(err, PN_E_FORMAT, "%s: cannot read zip record '%s': %s", file, name,
                            zip_strerror(za));
    if (zs.size > maxlen)
        return pn_error_set(err, PN_E_FORMAT, "%s: zip record '%s' is %llu bytes, expected at most %llu",
                            file, name, (unsigned long long)zs.size, (unsigned long long)maxlen);
    /* a stored record holds its size; a compressed one can't expand more than deflate allows */
    if ((zs.comp_method == ZIP_CM_STORE && zs.comp_size != zs.size) ||
        (zs.comp_method != ZIP_CM_STORE && zs.size > zs.comp_size * 1100 + 4096))
        return pn_error_set(err, PN_E_FORMAT, "%s: zip record '%s': implausible sizes (%llu from %llu)",
                            file, name, (unsigned long long)zs.size, (unsigned long long)zs.comp_size);
    uint8_t *b = malloc(zs.size ? zs.size : 1);
    if (!b) return pn_error_set(err, PN_E_NOMEM, "%s: out of memory for zip record '%s'", file, name);
    zip_file_t *zf = zip_fopen_index(za, (zip_uint64_t)idx, 0);
    if (!zf) {
        free(b);
        return pn_error_set(err, PN_E_FORMAT, "%s: cannot open zip record '%s': %s", file, name,
                            zip_strerror(za));
    }
    uint64_t got = 0;
    while (got < zs.size) {
        zip_int64_t r = zip_fread(zf, b + got, zs.size - got);
        if (r <= 0) break;
        got += (uint64_t)r;
    }
    uint8_t extra;
    zip_int64_t tail = got == zs.size ? zip_fread(zf, &extra, 1) : -1; /* reaches EOF: CRC check */
    const char *why = tail != 0 ? zip_file_strerror(zf) : NULL;
    int bad = got != zs.size || tail != 0;
    char whybuf[128];
    snprintf(whybuf, sizeof whybuf, "%s", why ? why : "");
    zip_fclose(zf);
    if (bad) {
        free(b);
        return pn_error_set(err, PN_E_FORMAT, "%s: zip record '%s' is truncated or corrupt (%s)", file,
                            name, whybuf[0] ? whybuf : "short read");
    }
    *out = b;
    *len = (size_t)zs.size;
    return PN_OK;
}

/* Reads "<prefix>/data/<key>", which must hold exactly the storage's bytes. */
static pn_status zip_load_storage(zip_t *za, const char *prefix, sref *r, const char *file,
                                  pn_error *err)
{
    char name[600];
    uint64_t want = storage_bytes(r);
    if (want == (uint64_t)-1)
        return pn_error_set(err, PN_E_FORMAT, "%s: storage '%s' of %lld elements is too large",
                            file, r->key, (long long)r->numel);
    if (strlen(r->key) > 256)
        return pn_error_set(err, PN_E_FORMAT, "%s: storage key too long", file);
    snprintf(name, sizeof name, "%s/data/%s", prefix, r->key);
    pn_status st = zip_read(za, name, want, 1, &r->owned, &r->len, file, err);
    if (st) return st;
    if (r->len != want) {
        free(r->owned);
        r->owned = NULL;
        return pn_error_set(err, PN_E_FORMAT,
                            "%s: record '%s' has %zu bytes, its torch.%s of %lld elements needs %llu",
                            file, name, r->len, r->type, (long long)r->numel,
                            (unsigned long long)want);
    }
    r->data = r->owned;
    return PN_OK;
}

static pn_status load_zip(const uint8_t *buf, size_t n, const char *file, pn_statedict *sd,
                          pn_error *err)
{
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(buf, n, 0, &ze);
    if (!src) {
        zip_error_fini(&ze);
        return pn_error_set(err, PN_E_NOMEM, "%s: cannot open zip: out of memory", file);
    }
    zip_t *za = zip_open_from_source(src, ZIP_RDONLY, &ze);
    if (!za) {
        pn_error_set(err, PN_E_FORMAT, "%s: not a readable zip file (truncated?): %s", file,
                     zip_error_strerror(&ze));
        zip_source_free(src);
        zip_error_fini(&ze);
        return PN_E_FORMAT;
    }
    zip_error_fini(&ze);
    pn_status st = PN_OK;
    uint8_t *pkl = NULL, *bo = NULL;
    size_t npkl = 0, nbo = 0;
    sref *s = NULL;
    size_t ns = 0;
    pn__pk_vm vm;
    pn__pk_init(&vm, file, err);
    char prefix[256], name[600];
    const char *first = zip_get_num_entries(za, 0) > 0 ? zip_get_name(za, 0, ZIP_FL_ENC_RAW) : NULL;
    const char *slash = first ? strchr(first, '/') : NULL;
    if (!slash || slash == first || (size_t)(slash - first) >= sizeof prefix) {
        st = pn_error_set(err, PN_E_FORMAT,
                          "%s: zip is not a PyTorch archive (first record '%.100s' is not in a folder)",
                          file, first ? first : "(none)");
        goto done;
    }
    memcpy(prefix, first, (size_t)(slash - first));
    prefix[slash - first] = '\0';
    snprintf(name, sizeof name, "%s/data.pkl", prefix);
    if ((st = zip_read(za, name, PTH_MAX_PICKLE, 1, &pkl, &npkl, file, err))) goto done;
    snprintf(name, sizeof name, "%s/byteorder", prefix);
    st = zip_read(za, name, 16, 0, &bo, &nbo, file, err);
    if (st == PN_E_NOTFOUND) {
        st = PN_OK;
    } else if (st) {
        goto done;
    } else if (!(nbo == 6 && !memcmp(bo, "little", 6))) {
        st = pn_error_set(err, PN_E_UNSUPPORTED, "%s: byteorder is '%.*s' (only little-endian files are supported)",
                          file, (int)(nbo < 16 ? nbo : 16), (const char *)bo);
        goto done;
    }
    pn__pk_value *root;
    size_t used;
    if ((st = pn__pk_run(&vm, pkl, npkl, &used, &root))) goto done;
    const pn__pk_value *d;
    if ((st = find_state_dict(root, file, &d, err))) goto done;
    if ((st = collect_srefs(d, file, &s, &ns, err))) goto done;
    st = build_sd(d, s, ns, za, prefix, file, sd, err);
done:
    free_srefs(s, ns);
    pn__pk_free(&vm);
    free(pkl);
    free(bo);
    zip_close(za); /* read-only: discards */
    return st;
}

/* ---- legacy ------------------------------------------------------------------ */

static const uint8_t legacy_magic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

static pn_status load_legacy(const uint8_t *buf, size_t n, const char *file, pn_statedict *sd,
                             pn_error *err)
{
    pn__pk_vm vm;
    pn__pk_init(&vm, file, err);
    pn_status st;
    size_t pos = 0, used;
    pn__pk_value *magic, *proto, *info, *root, *keys;
    sref *all = NULL, *s = NULL;
    size_t nall = 0, ns = 0;
    if ((st = pn__pk_run(&vm, buf, n, &used, &magic))) goto done;
    pos += used;
    if (magic->kind != PK_BIGINT || magic->u.str.len != 10 || memcmp(magic->u.str.s, legacy_magic, 10)) {
        st = pn_error_set(err, PN_E_FORMAT, "%s: wrong magic number (not a PyTorch legacy .pth file)", file);
        goto done;
    }
    if ((st = pn__pk_run(&vm, buf + pos, n - pos, &used, &proto))) goto done;
    pos += used;
    if (proto->kind != PK_INT || proto->u.i != 1001) {
        st = pn_error_set(err, PN_E_UNSUPPORTED, "%s: legacy protocol version is not 1001", file);
        goto done;
    }
    if ((st = pn__pk_run(&vm, buf + pos, n - pos, &used, &info))) goto done;
    pos += used;
    const pn__pk_value *le = pn__pk_dict_get(info, "little_endian");
    if (info->kind != PK_DICT || (le && (le->kind != PK_BOOL || !le->u.i))) {
        st = pn_error_set(err, PN_E_UNSUPPORTED, "%s: legacy file is not little-endian", file);
        goto done;
    }
    if ((st = pn__pk_run(&vm, buf + pos, n - pos, &used, &root))) goto done;
    pos += used;
    const pn__pk_value *d;
    if ((st = find_state_dict(root, file, &d, err))) goto done;
    if ((st = pn__pk_run(&vm, buf + pos, n - pos, &used, &keys))) goto done;
    pos += used;
    if (keys->kind != PK_LIST) {
        st = pn_error_set(err, PN_E_FORMAT, "%s: legacy storage key list is not a list", file);
        goto done;
    }
    /* every storage described in the pickle, by key */
    for (size_t i = 0; i < vm.nall; i++) nall += vm.all[i]->kind == PK_STORAGE;
    all = calloc(nall ? nall : 1, sizeof *all);
    if (!all) {
        st = pn_error_set(err, PN_E_NOMEM, "%s: out of memory", file);
        goto done;
    }
    nall = 0;
    for (size_t i = 0; i < vm.nall; i++) {
        const pn__pk_value *v = vm.all[i];
        if (v->kind != PK_STORAGE) continue;
        all[nall].key = v->u.storage.key;
        all[nall].type = v->u.storage.type;
        all[nall].dtype = v->dtype;
        all[nall].numel = v->u.storage.numel;
        nall++;
    }
    nall = uniq_srefs(all, nall, file, err);
    if (nall == (size_t)-1) {
        nall = 0;
        st = err ? err->code : PN_E_FORMAT;
        goto done;
    }
    for (size_t k = 0; k < keys->u.seq.n; k++) {
        const pn__pk_value *kv = keys->u.seq.v[k];
        if (kv->kind != PK_STR) {
            st = pn_error_set(err, PN_E_FORMAT, "%s: legacy storage key is not a string", file);
            goto done;
        }
        sref *r = (sref *)find_sref(all, nall, kv->u.str.s);
        if (!r) {
            st = pn_error_set(err, PN_E_FORMAT, "%s: legacy storage '%s' is not described in the pickle",
                              file, kv->u.str.s);
            goto done;
        }
        if (r->data) {
            st = pn_error_set(err, PN_E_FORMAT, "%s: legacy storage '%s' is listed twice", file, r->key);
            goto done;
        }
        if (n - pos < 8) {
            st = pn_error_set(err, PN_E_FORMAT, "%s: truncated: storage '%s' is missing", file, r->key);
            goto done;
        }
        int64_t numel = (int64_t)pn__le64(buf + pos);
        pos += 8;
        uint64_t want = storage_bytes(r);
        if (want == (uint64_t)-1) {
            st = pn_error_set(err, PN_E_UNSUPPORTED, "%s: storage '%s' is a torch.%s (not supported)",
                              file, r->key, r->type);
            goto done;
        }
        if (numel != r->numel) {
            st = pn_error_set(err, PN_E_FORMAT, "%s: storage '%s' has %lld elements, the pickle says %lld",
                              file, r->key, (long long)numel, (long long)r->numel);
            goto done;
        }
        if (want > n - pos) {
            st = pn_error_set(err, PN_E_FORMAT,
                              "%s: truncated: storage '%s' needs %llu bytes, %zu remain in the file", file,
                              r->key, (unsigned long long)want, n - pos);
            goto done;
        }
        r->data = buf + pos;
        r->len = (size_t)want;
        pos += (size_t)want;
    }
    st = build_sd(d, all, nall, NULL, NULL, file, sd, err);
done:
    free_srefs(s, ns);
    free(all); /* data points into buf */
    pn__pk_free(&vm);
    return st;
}

pn_status pn_pth_load_mem(const void *buf, size_t n, const char *file, pn_statedict *sd,
                          pn_error *err)
{
    pn_statedict_init(sd);
    if (!file) file = "<memory>";
    pn_weights_format f = pn_weights_detect(buf, n);
    pn_status st;
    if (f == PN_FMT_PTH_ZIP) {
        st = load_zip(buf, n, file, sd, err);
    } else if (f == PN_FMT_PTH_LEGACY) {
        st = load_legacy(buf, n, file, sd, err);
    } else {
        return pn_error_set(err, PN_E_FORMAT,
                            n < 4 ? "%s: truncated: %zu bytes is too short for a .pth file"
                                  : "%s: wrong magic: not a PyTorch .pth file (neither a zip "
                                    "nor a legacy pickle; %zu bytes)",
                            file, n);
    }
    if (st) pn_statedict_free(sd);
    return st;
}

pn_status pn_pth_load(const char *path, pn_statedict *sd, pn_error *err)
{
    return pn__io_load_path(path, pn_pth_load_mem, sd, err);
}
