/* pneumo model files: safetensors + "pneumo.*" metadata (see weights.h). */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io_internal.h"
#include "pneumo/weights.h"

void pn_model_meta_default(pn_model_meta *m)
{
    memset(m, 0, sizeof *m);
    m->format_version = PN_MODEL_FORMAT_VERSION;
    snprintf(m->arch, sizeof m->arch, "resnet18");
    m->num_classes = 2;
    snprintf(m->class_names[0], PN_CLASS_NAME_MAX, "NORMAL");
    snprintf(m->class_names[1], PN_CLASS_NAME_MAX, "PNEUMONIA");
    m->input_size = 224;
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    memcpy(m->mean, mean, sizeof mean);
    memcpy(m->std, std, sizeof std);
    m->threshold = 0.5;
    m->temperature = 1;
    snprintf(m->training_json, sizeof m->training_json, "{}");
}

static pn_status check_meta(const pn_model_meta *m, const char *path, pn_error *err)
{
    if (strcmp(m->arch, "resnet18"))
        return pn_error_set(err, PN_E_UNSUPPORTED, "%s: architecture '%s' (only resnet18)", path,
                            m->arch);
    if (m->num_classes < 2 || m->num_classes > PN_MAX_CLASSES)
        return pn_error_set(err, PN_E_ARG, "%s: %d classes (2 to %d supported)", path,
                            m->num_classes, PN_MAX_CLASSES);
    for (int i = 0; i < m->num_classes; i++)
        if (!m->class_names[i][0] || !memchr(m->class_names[i], '\0', PN_CLASS_NAME_MAX))
            return pn_error_set(err, PN_E_ARG, "%s: class %d has no name", path, i);
    if (m->input_size < 32 || m->input_size > 4096)
        return pn_error_set(err, PN_E_ARG, "%s: input size %d (32 to 4096)", path, m->input_size);
    for (int c = 0; c < 3; c++)
        if (!(m->std[c] > 0) || !(m->mean[c] == m->mean[c]) || m->std[c] > 1e30f)
            return pn_error_set(err, PN_E_ARG, "%s: mean/std of channel %d are not usable", path, c);
    if (!(m->threshold >= 0 && m->threshold <= 1))
        return pn_error_set(err, PN_E_ARG, "%s: threshold %g is not in [0, 1]", path, m->threshold);
    if (!(m->temperature > 0 && m->temperature < 1e6))
        return pn_error_set(err, PN_E_ARG, "%s: temperature %g is not a positive number", path,
                            m->temperature);
    size_t hl = strlen(m->base_sha256);
    if (hl && hl != 64)
        return pn_error_set(err, PN_E_ARG, "%s: base SHA-256 '%s' is not 64 hex digits", path,
                            m->base_sha256);
    for (size_t i = 0; i < hl; i++)
        if (!isxdigit((unsigned char)m->base_sha256[i]))
            return pn_error_set(err, PN_E_ARG, "%s: base SHA-256 is not hex", path);
    cJSON *tj = cJSON_Parse(m->training_json[0] ? m->training_json : "{}");
    int ok = cJSON_IsObject(tj);
    cJSON_Delete(tj);
    if (!ok) return pn_error_set(err, PN_E_ARG, "%s: training settings are not a JSON object", path);
    return PN_OK;
}

/* Shortest decimal that reads back as the same float ("0.485", not "0.485000014"). */
static void fmt_float(char *out, size_t outsz, float v)
{
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(out, outsz, "%.*g", prec, (double)v);
        if (strtof(out, NULL) == v) return;
    }
}

static pn_status set_f3(pn_statedict *sd, const char *key, const float v[3], pn_error *err)
{
    char b[128], x[3][32];
    for (int i = 0; i < 3; i++) fmt_float(x[i], sizeof x[i], v[i]);
    snprintf(b, sizeof b, "[%s,%s,%s]", x[0], x[1], x[2]);
    return pn_statedict_set_meta(sd, key, b, err);
}

pn_status pn_modelfile_save(const char *path, const pn_statedict *sd, const pn_model_meta *meta,
                            pn_error *err)
{
    pn_status st = check_meta(meta, path, err);
    if (st) return st;
    char **names = NULL;
    if ((st = pn__io_r18_names(sd, meta->num_classes, &names, err))) {
        pn_error_prefix(err, "%s: ", path);
        return st; /* (err may be NULL) */
    }
    /* a view of sd with normalised names and the model metadata */
    pn_statedict v;
    pn_statedict_init(&v);
    v.t = calloc(sd->n ? sd->n : 1, sizeof *v.t);
    cJSON *cls = cJSON_CreateArray();
    char *cls_s = NULL;
    if (!v.t || !cls) {
        st = pn_error_set(err, PN_E_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < sd->n; i++) {
        v.t[i] = sd->t[i];
        v.t[i].name = names[i];
    }
    v.n = v.cap = sd->n;
    for (int i = 0; i < meta->num_classes; i++)
        cJSON_AddItemToArray(cls, cJSON_CreateString(meta->class_names[i]));
    cls_s = cJSON_PrintUnformatted(cls);
    char b[64];
    snprintf(b, sizeof b, "%d", meta->input_size);
    char th[64];
    snprintf(th, sizeof th, "%.17g", meta->threshold);
    char tt[64];
    snprintf(tt, sizeof tt, "%.17g", meta->temperature);
    if (!cls_s || (st = pn_statedict_set_meta(&v, "format", "pt", err)) ||
        (st = pn_statedict_set_meta(&v, "pneumo.format_version", "1", err)) ||
        (st = pn_statedict_set_meta(&v, "pneumo.arch", meta->arch, err)) ||
        (st = pn_statedict_set_meta(&v, "pneumo.classes", cls_s, err)) ||
        (st = pn_statedict_set_meta(&v, "pneumo.input_size", b, err)) ||
        (st = set_f3(&v, "pneumo.mean", meta->mean, err)) ||
        (st = set_f3(&v, "pneumo.std", meta->std, err)) ||
        (st = pn_statedict_set_meta(&v, "pneumo.threshold", th, err)) ||
        (st = pn_statedict_set_meta(&v, "pneumo.training",
                                    meta->training_json[0] ? meta->training_json : "{}", err)) ||
        (st = pn_statedict_set_meta(&v, "pneumo.base_sha256", meta->base_sha256, err)) ||
        (meta->temperature != 1 &&
         (st = pn_statedict_set_meta(&v, "pneumo.temperature", tt, err)))) {
        if (!st) st = pn_error_set(err, PN_E_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < sd->nmeta; i++) /* an int8 calibration (src/infer/quant.c) rides along */
        if (!strncmp(sd->meta[i].key, "pneumo.int8.", 12) &&
            (st = pn_statedict_set_meta(&v, sd->meta[i].key, sd->meta[i].value, err)))
            goto done;
    if ((st = pn__io_seal(&v, err))) goto done;
    st = pn_safetensors_save(path, &v, err);
done:
    cJSON_free(cls_s);
    cJSON_Delete(cls);
    for (size_t i = 0; i < sd->n; i++) free(names[i]);
    free(names);
    free(v.t); /* tensors are borrowed from sd */
    v.t = NULL;
    v.n = 0;
    pn_statedict_free(&v);
    return st;
}

static int parse_f3(const char *s, float out[3])
{
    cJSON *j = s ? cJSON_Parse(s) : NULL;
    int ok = cJSON_IsArray(j) && cJSON_GetArraySize(j) == 3;
    for (int i = 0; ok && i < 3; i++) {
        cJSON *e = cJSON_GetArrayItem(j, i);
        ok = cJSON_IsNumber(e);
        if (ok) out[i] = (float)e->valuedouble;
    }
    cJSON_Delete(j);
    return ok ? 0 : -1;
}

static int parse_long(const char *s, long *out)
{
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

static pn_status read_meta(const pn_statedict *sd, pn_model_meta *m, const char *path, pn_error *err)
{
    pn_model_meta_default(m);
    long ver;
    const char *s = pn_statedict_get_meta(sd, "pneumo.format_version");
    if (parse_long(s, &ver) || ver < 1)
        return pn_error_set(err, PN_E_FORMAT, "%s: bad pneumo.format_version '%.20s'", path, s);
    if (ver > PN_MODEL_FORMAT_VERSION)
        return pn_error_set(err, PN_E_UNSUPPORTED,
                            "%s: model file format %ld is newer than this pneumo (%d)", path, ver,
                            PN_MODEL_FORMAT_VERSION);
    m->format_version = (int)ver;
    s = pn_statedict_get_meta(sd, "pneumo.arch");
    snprintf(m->arch, sizeof m->arch, "%s", s ? s : "");
    s = pn_statedict_get_meta(sd, "pneumo.classes");
    cJSON *cls = s ? cJSON_Parse(s) : NULL;
    int nc = cJSON_IsArray(cls) ? cJSON_GetArraySize(cls) : -1;
    int ok = nc >= 2 && nc <= PN_MAX_CLASSES;
    for (int i = 0; ok && i < nc; i++) {
        cJSON *e = cJSON_GetArrayItem(cls, i);
        ok = cJSON_IsString(e) && e->valuestring[0] && strlen(e->valuestring) < PN_CLASS_NAME_MAX;
        if (ok) snprintf(m->class_names[i], PN_CLASS_NAME_MAX, "%s", e->valuestring);
    }
    cJSON_Delete(cls);
    if (!ok)
        return pn_error_set(err, PN_E_FORMAT,
                            "%s: pneumo.classes must be a JSON list of 2 to %d class names", path,
                            PN_MAX_CLASSES);
    m->num_classes = nc;
    long isz;
    if (parse_long(pn_statedict_get_meta(sd, "pneumo.input_size"), &isz) || isz < 1 || isz > 100000)
        return pn_error_set(err, PN_E_FORMAT, "%s: bad pneumo.input_size", path);
    m->input_size = (int)isz;
    if (parse_f3(pn_statedict_get_meta(sd, "pneumo.mean"), m->mean) ||
        parse_f3(pn_statedict_get_meta(sd, "pneumo.std"), m->std))
        return pn_error_set(err, PN_E_FORMAT, "%s: pneumo.mean/std must be lists of 3 numbers", path);
    s = pn_statedict_get_meta(sd, "pneumo.threshold");
    char *end = NULL;
    m->threshold = s ? strtod(s, &end) : -1;
    if (!s || !*s || *end)
        return pn_error_set(err, PN_E_FORMAT, "%s: bad pneumo.threshold", path);
    s = pn_statedict_get_meta(sd, "pneumo.temperature"); /* absent: 1 */
    m->temperature = s ? strtod(s, &end) : 1;
    if (s && (!*s || *end))
        return pn_error_set(err, PN_E_FORMAT, "%s: bad pneumo.temperature", path);
    s = pn_statedict_get_meta(sd, "pneumo.training");
    if (s && strlen(s) >= sizeof m->training_json)
        return pn_error_set(err, PN_E_FORMAT, "%s: pneumo.training is over %d bytes", path,
                            PN_TRAINING_JSON_MAX - 1);
    snprintf(m->training_json, sizeof m->training_json, "%s", s ? s : "{}");
    s = pn_statedict_get_meta(sd, "pneumo.base_sha256");
    if (s && strlen(s) >= sizeof m->base_sha256)
        return pn_error_set(err, PN_E_FORMAT, "%s: bad pneumo.base_sha256", path);
    snprintf(m->base_sha256, sizeof m->base_sha256, "%s", s ? s : "");
    if (check_meta(m, path, err)) {
        if (err) err->code = PN_E_FORMAT;
        return PN_E_FORMAT;
    }
    return PN_OK;
}

pn_status pn_modelfile_load(const char *path, pn_statedict *sd, pn_model_meta *meta, pn_error *err)
{
    pn_status st = pn_weights_load(path, sd, err);
    if (st) return st;
    const char *fmt = pn_statedict_get_meta(sd, "format");
    if (fmt && !strcmp(fmt, "pneumo-checkpoint")) {
        st = pn_error_set(err, PN_E_ARG,
                          "%s is a pneumo training checkpoint (for train --resume), not a model: "
                          "give the model.safetensors of the same run folder",
                          path);
        goto fail;
    }
    if ((st = pn__io_check_finite(sd, path, err))) goto fail;
    int classes = 0;
    if (pn_statedict_get_meta(sd, "pneumo.format_version")) {
        if ((st = read_meta(sd, meta, path, err))) goto fail;
        if ((st = pn_resnet18_check(sd, meta->num_classes, 0, &classes, err))) {
            pn_error_prefix(err, "%s: ", path);
            goto fail;
        }
        return PN_OK;
    }
    pn_model_meta_default(meta);
    if ((st = pn_resnet18_check(sd, 0, 0, &classes, err))) {
        pn_error_prefix(err, "%s: ", path);
        goto fail;
    }
    if (classes > PN_MAX_CLASSES) {
        st = pn_error_set(err, PN_E_UNSUPPORTED,
                          "%s: the head has %d classes and no class names (at most %d supported; "
                          "use it as starting weights for training instead)",
                          path, classes, PN_MAX_CLASSES);
        goto fail;
    }
    if (classes != 2) {
        meta->num_classes = classes;
        for (int i = 0; i < classes; i++)
            snprintf(meta->class_names[i], PN_CLASS_NAME_MAX, "class%d", i);
    }
    return PN_OK;
fail:
    pn_statedict_free(sd);
    return st;
}
