/* pneumo: exporting a model for other runtimes — ONNX, and the sidecar JSON
 * written beside every exported file.
 *
 * ONNX (pn_onnx_save): opset 13, IR version 7, the torchvision ResNet-18
 * graph node for node (Conv, BatchNormalization unfolded, Relu, MaxPool,
 * Add, GlobalAveragePool, Flatten, Gemm, Softmax) with the weights as
 * float32 initializers named as in the state_dict. Input "input" float32
 * (batch, 3, 224, 224) NCHW, already normalised (docs/serve.md gives the
 * preprocessing); outputs "probabilities" (softmax over classes) and
 * "logits", both (batch, C). The metadata_props hold the classes, the
 * threshold and mean/std. The protobuf is written by src/io/onnx.c itself.
 */
#ifndef PNEUMO_EXPORT_H
#define PNEUMO_EXPORT_H

#include "pneumo/status.h"
#include "pneumo/tensor.h"
#include "pneumo/weights.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PN_ONNX_OPSET 13

/* sd: a checked ResNet-18 state_dict with a head (pn_modelfile_load).
 * Written atomically. */
pn_status pn_onnx_save(const char *path, const pn_statedict *sd, const pn_model_meta *meta,
                       pn_error *err);

/* The sidecar JSON for an exported file: format ("onnx", "pth",
 * "safetensors"), the file's name and SHA-256, classes, threshold and the
 * decision rule, input size, mean/std, preprocessing notes, the ONNX input
 * and outputs (format "onnx"), pneumo version, the SHA-256 of the source
 * model file, the training settings. Written atomically to json_path. */
pn_status pn_export_sidecar(const char *json_path, const char *format, const char *exported_path,
                            const char *source_path, const pn_model_meta *meta, pn_error *err);

#ifdef __cplusplus
}
#endif
#endif
