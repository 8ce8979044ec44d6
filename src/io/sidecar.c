/* pneumo: the sidecar JSON written beside an exported model (pneumo/export.h):
 * what another runtime needs to reproduce pneumo's labels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "pneumo/export.h"
#include "pneumo/util.h"
#include "pneumo/version.h"

static const char *base_name(const char *p)
{
    const char *b = strrchr(p, '/');
    return b ? b + 1 : p;
}

/* a float32 value as its shortest decimal (0.485, not 0.48500001430511475) */
static double short_float(float f)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%.7g", f);
    return strtod(buf, NULL);
}

static cJSON *float3(const float *v)
{
    cJSON *a = cJSON_CreateArray();
    for (int k = 0; k < 3; k++) cJSON_AddItemToArray(a, cJSON_CreateNumber(short_float(v[k])));
    return a;
}

pn_status pn_export_sidecar(const char *json_path, const char *format, const char *exported_path,
                            const char *source_path, const pn_model_meta *meta, pn_error *err)
{
    uint8_t h[32];
    char out_hex[65], src_hex[65];
    pn_status st = pn_sha256_file(exported_path, h, err);
    if (st) return st;
    pn_hex(h, 32, out_hex);
    st = pn_sha256_file(source_path, h, err);
    if (st) return st;
    pn_hex(h, 32, src_hex);
    int size = meta->input_size > 0 ? meta->input_size : 224;

    cJSON *r = cJSON_CreateObject();
    if (!r) return pn_error_set(err, PN_E_NOMEM, "out of memory");
    cJSON_AddStringToObject(r, "format", format);
    cJSON_AddStringToObject(r, "file", base_name(exported_path));
    cJSON_AddStringToObject(r, "file_sha256", out_hex);
    cJSON_AddStringToObject(r, "arch", meta->arch);
    cJSON *cls = cJSON_CreateArray();
    for (int k = 0; k < meta->num_classes; k++)
        cJSON_AddItemToArray(cls, cJSON_CreateString(meta->class_names[k]));
    cJSON_AddItemToObject(r, "classes", cls);
    cJSON_AddNumberToObject(r, "threshold", meta->threshold);
    if (meta->temperature > 0 && meta->temperature != 1) { /* train --calibrate */
        cJSON_AddNumberToObject(r, "temperature", meta->temperature);
        cJSON_AddStringToObject(r, "calibration",
                                !strcmp(format, "onnx")
                                    ? "temperature scaling, already in the graph: probabilities = "
                                      "softmax(logits), logits = fc / temperature"
                                    : "temperature scaling: probabilities = softmax(logits / "
                                      "temperature); the threshold is on those");
    }
    char rule[512];
    if (meta->num_classes == 2)
        snprintf(rule, sizeof rule,
                 "label = %s when P(%s) >= threshold, else %s (not argmax: argmax equals this "
                 "only at threshold 0.5)",
                 meta->class_names[1], meta->class_names[1], meta->class_names[0]);
    else
        snprintf(rule, sizeof rule, "label = argmax of the probabilities");
    cJSON_AddStringToObject(r, "decision", rule);
    cJSON_AddNumberToObject(r, "input_size", size);
    cJSON_AddItemToObject(r, "mean", float3(meta->mean));
    cJSON_AddItemToObject(r, "std", float3(meta->std));
    cJSON_AddStringToObject(
        r, "preprocessing",
        "decode the image as Pillow does (Image.open(f).convert('RGB'); EXIF orientation not "
        "applied), resize to input_size x input_size with Pillow's antialiased BILINEAR "
        "(torchvision Resize((S, S)) on a PIL image, no crop, aspect ratio not kept), scale to "
        "[0,1] (ToTensor: /255), subtract mean and divide by std per RGB channel "
        "(Normalize), NCHW float32");
    if (!strcmp(format, "onnx")) {
        cJSON *in = cJSON_CreateObject();
        cJSON_AddStringToObject(in, "name", "input");
        cJSON_AddStringToObject(in, "dtype", "float32");
        cJSON_AddStringToObject(in, "layout", "NCHW");
        cJSON *shape = cJSON_CreateArray();
        cJSON_AddItemToArray(shape, cJSON_CreateString("batch"));
        cJSON_AddItemToArray(shape, cJSON_CreateNumber(3));
        cJSON_AddItemToArray(shape, cJSON_CreateNumber(size));
        cJSON_AddItemToArray(shape, cJSON_CreateNumber(size));
        cJSON_AddItemToObject(in, "shape", shape);
        cJSON_AddItemToObject(r, "input", in);
        cJSON *outs = cJSON_CreateArray();
        static const char *const names[] = {"probabilities", "logits"};
        for (int q = 0; q < 2; q++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", names[q]);
            cJSON *s = cJSON_CreateArray();
            cJSON_AddItemToArray(s, cJSON_CreateString("batch"));
            cJSON_AddItemToArray(s, cJSON_CreateNumber(meta->num_classes));
            cJSON_AddItemToObject(o, "shape", s);
            cJSON_AddItemToArray(outs, o);
        }
        cJSON_AddItemToObject(r, "outputs", outs);
        cJSON_AddNumberToObject(r, "opset", PN_ONNX_OPSET);
    }
    cJSON_AddStringToObject(r, "pneumo_version", PNEUMO_VERSION);
    cJSON_AddStringToObject(r, "source_model", base_name(source_path));
    cJSON_AddStringToObject(r, "source_sha256", src_hex);
    cJSON_AddStringToObject(r, "base_sha256", meta->base_sha256);
    cJSON *tr = cJSON_Parse(meta->training_json);
    cJSON_AddItemToObject(r, "training", tr ? tr : cJSON_CreateObject());
    char *s = cJSON_Print(r);
    cJSON_Delete(r);
    if (!s) return pn_error_set(err, PN_E_NOMEM, "out of memory");
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);
    if (!t) {
        free(s);
        return pn_error_set(err, PN_E_NOMEM, "out of memory");
    }
    t[n] = '\n';
    t[n + 1] = 0;
    st = pn_write_file_atomic(json_path, t, n + 1, err);
    free(t);
    return st;
}
