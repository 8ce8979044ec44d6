/* pneumo: weight files — safetensors, PyTorch .pth (zip and legacy), and
 * pneumo's own model files.
 *
 * Every loader fills a pn_statedict (see tensor.h): floating tensors become
 * float32 (f16/bf16/f64 converted; the original dtype is kept in
 * t->file_dtype), integer tensors int64. The loaders initialise *sd
 * themselves (any previous content is not freed) and leave it empty on
 * failure; the caller frees it with pn_statedict_free() in both cases.
 *
 *     pn_statedict sd;
 *     pn_error err = {0};
 *     if (pn_weights_load("resnet18-f37072fd.pth", &sd, &err))
 *         fprintf(stderr, "pneumo: %s\n", err.msg);   // names file + reason
 *     ...
 *     pn_statedict_free(&sd);
 *
 * Nothing is ever executed from a file: the .pth pickle reader implements
 * only the opcodes a state_dict needs and a fixed whitelist of globals.
 */
#ifndef PNEUMO_WEIGHTS_H
#define PNEUMO_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "pneumo/status.h"
#include "pneumo/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- safetensors ---------------------------------------------------------
 * Reading (mmap) validates like the reference implementation: header size
 * <= 100,000,000 bytes, JSON object starting with '{', data_offsets
 * contiguous from 0 without gaps or overlaps, end-begin == numel*dtype size
 * (overflow-checked), last end == file length, no duplicate names,
 * __metadata__ a {string: string} object (copied into sd's metadata).
 * Dtypes F32/F16/BF16/F64 -> float32, I64/I32/U8/I8/BOOL -> int64; others
 * (I16, U16, U32, U64, F8_*) are refused as unsupported. Tensors keep the
 * order of the header. */
pn_status pn_safetensors_load(const char *path, pn_statedict *sd, pn_error *err);
/* The same from memory; `name` is used in messages. */
pn_status pn_safetensors_load_mem(const void *buf, size_t n, const char *name, pn_statedict *sd,
                                  pn_error *err);
/* Writes float32 tensors as F32 and int64 as I64, sorted as the reference
 * writer does (dtype I64 before F32, then by name), JSON without spaces,
 * __metadata__ first with keys sorted, header padded with spaces to a
 * multiple of 8. Same input -> same bytes. Atomic (temp + fsync + rename). */
pn_status pn_safetensors_save(const char *path, const pn_statedict *sd, pn_error *err);

/* ---- PyTorch .pth ----------------------------------------------------------
 * Zip format (torch >= 1.6; any archive-name prefix, stored or deflated
 * records, ZIP64, via libzip) and the legacy pre-1.6 format (concatenated
 * pickles + raw storages). The top-level object must be a state_dict (a
 * dict/OrderedDict of tensors) or a training checkpoint dict holding one
 * under "state_dict", "model_state_dict" or "model". Tensors must be
 * contiguous; dtypes f32/f16/bf16/f64 -> float32, i64/i32/u8/i8/bool ->
 * int64. The state_dict's `_metadata` is ignored. */
pn_status pn_pth_load(const char *path, pn_statedict *sd, pn_error *err);
pn_status pn_pth_load_mem(const void *buf, size_t n, const char *name, pn_statedict *sd,
                          pn_error *err);
/* Writes a zip-format .pth that torch.load (also weights_only=True) reads:
 * "<archive>/data.pkl" (pickle protocol 2, an OrderedDict of tensors),
 * "<archive>/byteorder", "<archive>/data/<k>", "<archive>/version", all
 * stored and 64-byte aligned like PyTorch's writer; <archive> is the file
 * name without directory and extension. Atomic. */
pn_status pn_pth_save(const char *path, const pn_statedict *sd, pn_error *err);

/* Model files pneumo writes carry SHA-256s of their tensors and metadata
 * ("pneumo.tensors_sha256", "pneumo.metadata_sha256"), checked on every
 * safetensors read: a changed file is refused naming both hashes. 0 turns
 * the check off for the process (--no-verify); on by default. */
void pn_weights_verify_hashes(int on);

/* ---- any format ----------------------------------------------------------- */
typedef enum pn_weights_format {
    PN_FMT_UNKNOWN = 0,
    PN_FMT_SAFETENSORS,
    PN_FMT_PTH_ZIP,
    PN_FMT_PTH_LEGACY,
} pn_weights_format;

/* Guess the format from the first bytes (n may be small; 16 is plenty). */
pn_weights_format pn_weights_detect(const void *head, size_t n);
const char *pn_weights_format_name(pn_weights_format f);
/* Detect by magic and load (.pth zip, legacy .pth, safetensors). */
pn_status pn_weights_load(const char *path, pn_statedict *sd, pn_error *err);
pn_status pn_weights_load_mem(const void *buf, size_t n, const char *name, pn_statedict *sd,
                              pn_error *err);

/* ---- ResNet-18 key checking ------------------------------------------------
 * Normalises and checks a torchvision ResNet-18 state_dict in place:
 *  - strips a "module." prefix (DataParallel) from every key;
 *  - renames the seed notebook's head "fc.0.weight"/"fc.0.bias"
 *    (fc = Sequential(Linear, LogSoftmax)) to "fc.weight"/"fc.bias";
 *  - checks every expected key (122, num_batches_tracked optional) and its
 *    shape and dtype, listing ALL missing, unexpected and mis-shaped keys in
 *    one error message (PN_E_FORMAT).
 * num_classes: the class count fc must have, 0 for any.
 * flags: PN_R18_HEAD_OPTIONAL lets fc.* be absent or of another class count
 * (transfer learning, the head is replaced); a mismatching head is then
 * removed from sd. Returns the number of classes of the head kept in sd in
 * *classes_out (0 when there is none); classes_out may be NULL. */
#define PN_R18_HEAD_OPTIONAL 1u
pn_status pn_resnet18_check(pn_statedict *sd, int num_classes, unsigned flags, int *classes_out,
                            pn_error *err);
/* The 122 torchvision key names in state_dict order with their shapes for
 * num_classes outputs. Returns the count (122); fills at most cap entries. */
typedef struct pn_r18_key {
    char name[48];
    int ndim;
    int64_t shape[4];
    int is_int; /* num_batches_tracked: int64 scalar */
} pn_r18_key;
int pn_resnet18_keys(int num_classes, pn_r18_key *keys, int cap);

/* ---- pneumo model files ------------------------------------------------------
 * A model file is a safetensors file with the torchvision state_dict of the
 * trained network (backbone + head) and this metadata (keys "pneumo.*"). */
#define PN_MODEL_FORMAT_VERSION 1
#define PN_CLASS_NAME_MAX 64
#define PN_TRAINING_JSON_MAX 4096

typedef struct pn_model_meta {
    int format_version;                                /* PN_MODEL_FORMAT_VERSION */
    char arch[32];                                     /* "resnet18" */
    int num_classes;                                   /* = rows of fc.weight */
    char class_names[PN_MAX_CLASSES][PN_CLASS_NAME_MAX]; /* index = class id */
    int input_size;                                    /* 224 */
    float mean[3], std[3];                             /* per RGB channel */
    double threshold;   /* decision threshold on P(class 1), 0.5 by default */
    char training_json[PN_TRAINING_JSON_MAX]; /* training settings, a JSON object ("{}" if none) */
    char base_sha256[65]; /* hex SHA-256 of the weights file training started from, "" if none */
    double temperature;   /* softmax(logits / T): temperature scaling (train --calibrate);
                             1 = none (then not written: "pneumo.temperature" absent) */
} pn_model_meta;

/* Defaults: resnet18, NORMAL/PNEUMONIA, 224, ImageNet mean/std, 0.5, "{}". */
void pn_model_meta_default(pn_model_meta *meta);
/* Saves sd (checked with pn_resnet18_check for meta->num_classes) + meta as
 * safetensors, atomically. sd's own "pneumo.int8.*" metadata (an int8
 * calibration, see infer.h) is kept. */
pn_status pn_modelfile_save(const char *path, const pn_statedict *sd, const pn_model_meta *meta,
                            pn_error *err);
/* Loads a model file, or any ResNet-18 .pth/safetensors: without pneumo
 * metadata a 2-output head gives pn_model_meta_default(); another class
 * count gives default meta with classes named "class0", "class1", ...
 * (PN_E_UNSUPPORTED above PN_MAX_CLASSES). Keys are normalised and checked
 * (pn_resnet18_check): mismatched weights are an error, never ignored. */
pn_status pn_modelfile_load(const char *path, pn_statedict *sd, pn_model_meta *meta,
                            pn_error *err);

#ifdef __cplusplus
}
#endif
#endif
