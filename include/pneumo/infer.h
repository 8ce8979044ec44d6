/* pneumo: fast ResNet-18 inference on oneDNN (frozen weights, eval mode).
 *
 * Built straight from a pn_statedict with torchvision's ResNet-18 names
 * (conv1.weight, bn1.*, layer{1..4}.{0,1}.{conv1,bn1,conv2,bn2}.*,
 * layer{2,3,4}.0.downsample.{0,1}.*, fc.weight, fc.bias). At creation:
 *  - every BatchNorm is folded into the conv before it (computed in double,
 *    rounded once to float): w' = w*g/sqrt(v+eps), b' = beta - mean*g/sqrt(v+eps);
 *  - the residual add and the ReLU run as oneDNN post-ops of the conv
 *    (sum + eltwise relu); the stem ReLU is a post-op too;
 *  - weights are reordered once into the layout oneDNN prefers, activations
 *    stay in that (blocked) layout between layers; only the NCHW input and
 *    the requested outputs are reordered;
 *  - all primitives and buffers are created once for max_batch. A call with
 *    a smaller batch builds (once, then reuses) a plan for that size on the
 *    same buffers.
 * Only the tensors of the stages up to `stop` are needed (fc.* only for
 * PN_STAGE_LOGITS, any number of classes). Missing or mis-shaped tensors
 * give one PN_E_ARG error listing all of them.
 *
 * Threads: `threads` (0 = all cores). oneDNN here uses the OpenMP runtime;
 * the engine calls omp_set_num_threads() before creating and running
 * primitives (a process-wide setting of the calling thread).
 *
 * bf16 (opt-in): activations and weights in bfloat16, accumulation and bias
 * in float32 (logits within ~1e-2 relative of fp32). On a CPU without
 * avx512_core_bf16 the engine falls back to fp32 and leaves a one-line
 * notice (pn_infer_notice(), also copied to err->msg with PN_OK).
 *
 * int8 (opt-in, cfg.int8): post-training quantization. The state dict
 * must carry the calibration `pneumo quantize` writes into a model file's
 * metadata ("pneumo.int8.format", "pneumo.int8.ranges": the fp32 range of
 * the input and of every conv output, measured on training images, and
 * "pneumo.int8.weights_sha256": a digest of the folded weights it was
 * measured with). Weights: per output channel, s8 with scale max|w'|/127 of
 * the BN-folded weights w'; activations u8 (after a ReLU) or s8 (the input
 * and the downsample branch), per tensor; the residual add and ReLU stay
 * fused post-ops (sum with the identity's scale). The stem input, the
 * layer4 output and the head are float32. A missing, older or mismatching
 * calibration is an error (PN_E_FORMAT), never a silent fp32 run; a CPU
 * where oneDNN has no fast int8 convolution (nothing from AVX2 up) falls
 * back to fp32 with a notice.
 *
 * Winograd (opt-in, cfg.winograd): oneDNN's Winograd algorithm for the
 * 3x3 stride-1 convs (fp32). oneDNN 2.6 implements it only for AVX-512
 * (avx512_core); elsewhere the engine keeps the direct algorithm and says
 * so in the notice.
 *
 *     pn_infer_config cfg = pn_infer_config_default();
 *     cfg.max_batch = 32; cfg.stop = PN_STAGE_POOL;
 *     pn_infer *e;
 *     if (pn_infer_create(&e, &sd, &cfg, &err)) ...;
 *     pn_infer_run(e, x, n, feats, NULL, &err);   // x (n,3,224,224), feats (n,512)
 *     pn_infer_free(e);
 *
 * A pn_infer is not thread-safe: one run at a time per engine.
 */
#ifndef PNEUMO_INFER_H
#define PNEUMO_INFER_H

#include <stddef.h>
#include <stdint.h>

#include "pneumo/model.h" /* pn_stage */
#include "pneumo/status.h"
#include "pneumo/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pn_infer_config {
    int max_batch;     /* >= 1; default 32 */
    int height, width; /* input size, 32..4096; default 224 */
    int threads;       /* 0 = all cores (default) */
    int bf16;          /* 1 = bfloat16 compute (falls back to fp32 without CPU support) */
    pn_stage stop;     /* last stage computed and returned, PN_STAGE_STEM..LOGITS;
                          default PN_STAGE_LOGITS */
    int want_layer4;   /* also return the layer4 activation (N,512,h,w), e.g. for CAM;
                          needs stop >= PN_STAGE_LAYER4 */
    int int8;          /* 1 = int8 (needs the calibration metadata, see above) */
    int winograd;      /* 1 = Winograd 3x3 convs (fp32; falls back to direct) */
} pn_infer_config;

/* Precision flags for the callers that take one int (pn_classifier_open,
 * pn_infer_extractor_init): 0 is fp32 direct; 1 (bf16) keeps its old meaning. */
enum { PN_INFER_BF16 = 1, PN_INFER_INT8 = 2, PN_INFER_WINOGRAD = 4 };
/* Set cfg's bf16 / int8 / winograd from PN_INFER_* flags. */
void pn_infer_config_set_mode(pn_infer_config *cfg, int mode);

typedef struct pn_infer pn_infer;

pn_infer_config pn_infer_config_default(void);

/* Build the engine. On success *e is set; err->msg may hold a notice (bf16
 * fallback) even though PN_OK is returned. */
pn_status pn_infer_create(pn_infer **e, const pn_statedict *sd, const pn_infer_config *cfg,
                          pn_error *err);

/* Forward n images (1 <= n <= max_batch).
 *   x      (n, 3, H, W) float32 NCHW, already normalized
 *   out    (n, dims of the stop stage) float32, NCHW; (n, 512) for POOL,
 *          (n, num_classes) for LOGITS
 *   layer4 NULL, or (n, 512, h, w) NCHW when cfg.want_layer4 */
pn_status pn_infer_run(pn_infer *e, const float *x, int n, float *out, float *layer4,
                       pn_error *err);

void pn_infer_free(pn_infer *e);

/* Per-image shape (C, H, W) of a stage's output for this engine's input size
 * (H = W = 1 for POOL and LOGITS); returns the per-image element count
 * (0 for a stage this engine does not compute). */
size_t pn_infer_stage_shape(const pn_infer *e, pn_stage s, int64_t chw[3]);

/* Effective settings: 1 if running bf16, threads in use, number of classes
 * (0 when stop < LOGITS), and the notice ("" when none). */
int pn_infer_is_bf16(const pn_infer *e);
int pn_infer_is_int8(const pn_infer *e);
int pn_infer_is_winograd(const pn_infer *e);
int pn_infer_threads(const pn_infer *e);
int pn_infer_num_classes(const pn_infer *e);
const char *pn_infer_notice(const pn_infer *e);

/* ---- int8 calibration ------------------------------------------------------
 * On an fp32 engine (stop = POOL or LOGITS): pn_infer_calibrate forwards n
 * images like pn_infer_run (out may be NULL) and keeps, per tensor, the
 * largest |value| seen so far; pn_infer_calibration_meta writes the
 * metadata an int8 engine needs ("pneumo.int8.format", ".ranges",
 * ".weights_sha256") into sd. */
pn_status pn_infer_calibrate(pn_infer *e, const float *x, int n, float *out, pn_error *err);
/* Images seen by pn_infer_calibrate so far. */
long pn_infer_calibrated_images(const pn_infer *e);
pn_status pn_infer_calibration_meta(const pn_infer *e, pn_statedict *sd, pn_error *err);

#ifdef __cplusplus
}
#endif
#endif
