/* pneumo: trainable ResNet-18, exactly torchvision's resnet18(num_classes=K).
 *
 * The model's tensors carry torchvision's state_dict names ("conv1.weight",
 * "layer2.0.downsample.1.running_var", "fc.bias", ...). Convs, batch norms,
 * ReLUs and pooling run on oneDNN (src/ops/), the 512->K head in plain C.
 *
 * Freeze levels: the trainable part is always a suffix of the network.
 *   PN_FREEZE_FC      only fc trains; the whole backbone runs in eval mode
 *   PN_FREEZE_LAYER4  layer4 + fc train
 *   PN_FREEZE_LAYER3  layer3 + layer4 + fc train
 *   PN_FREEZE_NONE    everything trains (full fine-tuning)
 * Frozen parts always run in eval mode (BN with running stats) and are never
 * differentiated; trainable parts run in training mode (BN with batch stats,
 * running stats updated with momentum 0.1 and the unbiased variance,
 * num_batches_tracked += 1) when training, as PyTorch does with
 * requires_grad_(False) + .eval() on the frozen modules.
 *
 * Memory is planned once per (model, max_batch): one allocation each for
 * parameters, running stats, gradients + Adam moments (trainable suffix
 * only), activations and activation gradients (trainable part only), carved
 * into named pointers. oneDNN primitives are built for the batch size in use
 * and rebuilt only when it changes (e.g. a short last batch).
 *
 * Not thread-safe: one model per thread.
 */
#ifndef PNEUMO_MODEL_H
#define PNEUMO_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "pneumo/status.h"
#include "pneumo/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pn_freeze {
    PN_FREEZE_FC = 0,
    PN_FREEZE_LAYER4,
    PN_FREEZE_LAYER3,
    PN_FREEZE_NONE
} pn_freeze;

/* Parse "fc", "layer4", "layer3", "none"/"all"; returns 0 on success. */
int pn_freeze_parse(const char *s, pn_freeze *out);
const char *pn_freeze_name(pn_freeze f);

/* The optimiser a training step applies, as torch.optim 1.13 (single-tensor
 * path) computes it; the learning rate comes with each step. All zero is
 * the seed recipe's Adam (betas 0.9/0.999, eps 1e-8, no weight decay).
 *   PN_OPT_ADAM   torch.optim.Adam: weight_decay adds wd*p to the gradient (L2)
 *   PN_OPT_ADAMW  torch.optim.AdamW: p *= 1 - lr*wd before the Adam update
 *   PN_OPT_SGD    torch.optim.SGD(momentum, dampening 0, nesterov, weight_decay) */
typedef enum pn_optimizer { PN_OPT_ADAM = 0, PN_OPT_ADAMW, PN_OPT_SGD } pn_optimizer;
typedef struct pn_optim {
    pn_optimizer kind;
    double weight_decay;      /* >= 0 */
    double momentum;          /* SGD, in [0,1) */
    int nesterov;             /* SGD: needs momentum > 0 */
    double beta1, beta2, eps; /* Adam/AdamW; 0 = 0.9, 0.999, 1e-8 */
} pn_optim;
/* "adam" / "adamw" / "sgd" <-> enum (parse: 0 on success, -1 unknown) */
int pn_optimizer_parse(const char *s, pn_optimizer *out);
const char *pn_optimizer_name(pn_optimizer k);
/* The per-parameter state tensors the optimiser keeps, torch's state names:
 * Adam/AdamW "exp_avg", "exp_avg_sq"; SGD with momentum "momentum_buffer";
 * SGD without none. Returns the count (0..2) and sets names[0..count). */
int pn_optim_state_names(const pn_optim *o, const char *names[2]);
/* PN_E_ARG (with the reason) for values torch.optim refuses. */
pn_status pn_optim_check(const pn_optim *o, pn_error *err);

typedef struct pn_model_config {
    int num_classes; /* K >= 1 */
    int max_batch;   /* N >= 1: every call takes 1..max_batch images */
    int height, width; /* input size; 0 = 224; 32..4096, square */
    pn_freeze freeze;
    int threads;     /* oneDNN (OpenMP) threads, process-wide; 0 = all cores */
    int bf16;        /* 1: the trainable convs run in bfloat16 (below) */
} pn_model_config;

typedef struct pn_model pn_model;

/* Stage boundaries of ResNet-18, shared by this model and the inference
 * engine (pneumo/infer.h). The activation at a boundary is NCHW float32 of
 * pn_model_stage_numel() floats per image:
 *   PN_STAGE_INPUT   (3,H,W)          normalized image
 *   PN_STAGE_STEM    (64,H/4,W/4)     conv1+bn1+relu+maxpool
 *   PN_STAGE_LAYER1  (64,H/4,W/4)     after layer1
 *   PN_STAGE_LAYER2  (128,H/8,W/8)    after layer2
 *   PN_STAGE_LAYER3  (256,H/16,W/16)  after layer3
 *   PN_STAGE_LAYER4  (512,H/32,W/32)  after layer4
 *   PN_STAGE_POOL    (512)            pooled feature (fc input)
 *   PN_STAGE_LOGITS  (K)
 * (spatial sizes round up: each stride-2 step maps h to (h-1)/2+1). */
typedef enum pn_stage {
    PN_STAGE_INPUT = 0,
    PN_STAGE_STEM,
    PN_STAGE_LAYER1,
    PN_STAGE_LAYER2,
    PN_STAGE_LAYER3,
    PN_STAGE_LAYER4,
    PN_STAGE_POOL,
    PN_STAGE_LOGITS,
    PN_STAGE_COUNT
} pn_stage;

/* "input", "stem", "layer1".."layer4", "pool", "logits"; and the reverse
 * (-1 for an unknown name). */
const char *pn_stage_name(pn_stage s);
int pn_stage_from_name(const char *name);

/* The stage a freeze level trains from: the input of its first trainable
 * module (PN_STAGE_POOL for PN_FREEZE_FC, PN_STAGE_LAYER3 for LAYER4,
 * PN_STAGE_LAYER2 for LAYER3, PN_STAGE_INPUT for NONE). */
pn_stage pn_freeze_stage(pn_freeze f);

/* bf16 (opt-in) trains as PyTorch's CPU autocast(dtype=torch.bfloat16)
 * does: the trainable convs' forward, backward-data and backward-weights
 * read bfloat16 copies of their input, weights and output gradient and
 * write float32 (oneDNN accumulates in f32); batch norm, ReLU, pooling, the
 * residual adds, the head, the loss and the optimiser stay f32, and the
 * master weights, gradients and Adam state are f32 (the bf16 weight copies
 * are refreshed after every step). Frozen convs (when a step or a forward
 * runs them) are bf16 too, forward only, as under autocast and as the
 * --bf16 inference engine computes the frozen features. It needs a CPU
 * with AVX512-BF16 (oneDNN's avx512_core_bf16): elsewhere the model is
 * created in f32 and err->msg gets a one-line notice while the status is
 * PN_OK. pn_model_is_bf16 tells what runs (0 also for PN_FREEZE_FC, which
 * has no trainable conv). Results differ from f32 by bf16's 8-bit mantissa
 * (about 0.4% per rounding). */
int pn_model_is_bf16(const pn_model *m);
/* Parameters are zero (BN: gamma 1, beta 0, running var 1) until loaded. */
pn_status pn_model_create(pn_model **m, const pn_model_config *cfg, pn_error *err);
void pn_model_free(pn_model *m);
const pn_model_config *pn_model_get_config(const pn_model *m);

/* Per-image float count at a stage boundary, and its (C,H,W) shape (H=W=1
 * for POOL and LOGITS); 0 for an unknown stage. */
size_t pn_model_stage_numel(const pn_model *m, pn_stage s);
void pn_model_stage_shape(const pn_model *m, pn_stage s, int *c, int *h, int *w);
/* The latest stage a training step may start from: pn_freeze_stage of the
 * model's freeze level. Any stage up to it may be used. */
pn_stage pn_model_train_stage(const pn_model *m);

/* Load from a state dict with torchvision names. Missing, unexpected or
 * mis-shaped keys give ONE error listing them all (nothing is changed then).
 * skip_fc: keep the current head and ignore fc.* (a fresh head for new
 * classes). num_batches_tracked is optional (pre-0.4.1 checkpoints). */
pn_status pn_model_load(pn_model *m, const pn_statedict *sd, int skip_fc, pn_error *err);
/* torchvision's random initialisation, as torch.manual_seed(seed);
 * torchvision.models.resnet18(num_classes=K) makes it: convs
 * kaiming_normal_(fan_out, relu), BatchNorm 1/0 (running stats 0/1), fc
 * nn.Linear's default; the same generator draws in the same order
 * (pneumo/rng.h; conv values equal torch's up to the last bits of its
 * vectorised Box-Muller on AVX2 CPUs). Resets the optimiser state. */
pn_status pn_model_init_torchvision(pn_model *m, uint64_t seed, pn_error *err);
/* Append every tensor, torchvision names and order (122 entries: params,
 * running stats, num_batches_tracked as int64) to out. */
pn_status pn_model_save(const pn_model *m, pn_statedict *out, pn_error *err);

/* Tensors by name, as copies in torchvision's layout (OIHW for convs):
 * parameters and running stats (float tensors; num_batches_tracked only
 * through pn_model_save). n must be the tensor's element count. A set takes
 * effect at the next forward; it does not touch the Adam state. */
size_t pn_model_numel(const pn_model *m, const char *name); /* 0 when unknown */
pn_status pn_model_get(const pn_model *m, const char *name, float *dst, size_t n, pn_error *err);
pn_status pn_model_set(pn_model *m, const char *name, const float *src, size_t n, pn_error *err);
/* The gradient of a trainable parameter (after a backward or train step;
 * zero after a load); PN_E_ARG when the parameter is frozen. */
pn_status pn_model_get_grad(const pn_model *m, const char *name, float *dst, size_t n,
                            pn_error *err);
/* The trainable parameters, in state_dict order (i in [0, num_trainable)). */
int pn_model_num_trainable(const pn_model *m);
const char *pn_model_trainable_name(const pn_model *m, int i);

/* Forward n <= max_batch images x (N,3,H,W) -> logits (N,K). training != 0:
 * trainable parts in training mode (batch-stat BN, running stats updated). */
pn_status pn_model_forward(pn_model *m, const float *x, int n, int training, float *logits,
                           pn_error *err);
/* Forward between two stage boundaries (from < to): in (N, numel(from)),
 * out (N, numel(to)). Frozen modules always run in eval mode. */
pn_status pn_model_run(pn_model *m, pn_stage from, const float *in, int n, pn_stage to,
                       int training, float *out, pn_error *err);

/* One training step: forward (training mode in the trainable part), mean
 * cross-entropy with optional class weights (K floats, NULL = none), backward
 * through the trainable part only, then one optimiser step
 * (pn_model_set_optim; default Adam, betas 0.9/0.999, eps 1e-8; lr given). loss gets the loss before the update; logits (N,K)
 * may be NULL. Gradients stay readable with pn_model_get_grad until the
 * next step. train_step_from starts at a stage boundary <= pn_model_train_stage. */
pn_status pn_model_train_step(pn_model *m, const float *x, const int *labels, int n,
                              const float *class_weights, double lr, float *loss, float *logits,
                              pn_error *err);
pn_status pn_model_train_step_from(pn_model *m, pn_stage from, const float *in,
                                   const int *labels, int n, const float *class_weights,
                                   double lr, float *loss, float *logits, pn_error *err);
/* Just forward + loss + backward (no update): fills the gradients. */
pn_status pn_model_backward_from(pn_model *m, pn_stage from, const float *in, const int *labels,
                                 int n, const float *class_weights, float *loss, float *logits,
                                 pn_error *err);
/* The optimiser of the train steps (default: Adam, pn_optim all zero).
 * Changing it does not reset the state (zeroed by pn_model_load). */
pn_status pn_model_set_optim(pn_model *m, const pn_optim *o, pn_error *err);
/* One optimiser step (step count + 1) from the gradients of the last
 * backward: what pn_model_train_step does after pn_model_backward_from. */
pn_status pn_model_optim_step(pn_model *m, double lr, pn_error *err);
/* Optimiser state of a trainable parameter (PyTorch's exp_avg / exp_avg_sq;
 * for SGD momentum_buffer in exp_avg, exp_avg_sq unused), in the
 * parameter's torchvision layout, for checkpoints; zero after a load.
 * The step count is shared by all parameters (PyTorch's per-parameter
 * 'step', equal for all). Restore with set_adam + set_adam_steps after
 * pn_model_load (which zeroes both). */
pn_status pn_model_get_adam(const pn_model *m, const char *name, float *exp_avg,
                            float *exp_avg_sq, size_t n, pn_error *err);
pn_status pn_model_set_adam(pn_model *m, const char *name, const float *exp_avg,
                            const float *exp_avg_sq, size_t n, pn_error *err);
long pn_model_adam_steps(const pn_model *m);
pn_status pn_model_set_adam_steps(pn_model *m, long steps, pn_error *err);

/* Bytes held by the model's planned buffers (params, grads, Adam state,
 * activations), not counting oneDNN primitives. */
size_t pn_model_memory_bytes(const pn_model *m);

#ifdef __cplusplus
}
#endif
#endif
