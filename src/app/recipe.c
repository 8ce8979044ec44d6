/* The freeze-level recipe: which backbone stage the features stop at,
 * whether the disk cache pays off, and the trainable model. */
#include <string.h>

#include "pneumo/app.h"
#include "pneumo/image.h"

pn_status pn_recipe_init(pn_recipe *r, pn_freeze freeze, const pn_statedict *sd, uint64_t seed,
                         int from_input, int classes, int batch, int threads, int bf16,
                         pn_error *err)
{
    memset(r, 0, sizeof *r);
    r->freeze = freeze;
    r->use_cache = freeze != PN_FREEZE_NONE; /* the "feature" is the image itself */
    r->stage = pn_freeze_stage(freeze); /* the first trainable module's input */
    if (!sd && freeze != PN_FREEZE_NONE)
        return pn_error_set(err, PN_E_ARG,
                            "--weights none (random initialisation) needs --freeze none: a frozen "
                            "random backbone gives random features");
    if (from_input) { /* augmentation: every step runs the whole forward on a new image */
        r->use_cache = 0;
        r->stage = PN_STAGE_INPUT;
    }
    if (freeze == PN_FREEZE_FC && !from_input) return PN_OK; /* the head alone on pooled features */
    pn_model_config mc = {classes, batch, PN_IMAGE_SIZE, PN_IMAGE_SIZE, freeze, threads, bf16};
    pn_status st = pn_model_create(&r->model, &mc, err);
    if (!st && sd) st = pn_model_load(r->model, sd, 1, err); /* a fresh fc for the new classes */
    if (!st && !sd) st = pn_model_init_torchvision(r->model, seed, err); /* from scratch */
    if (st) pn_recipe_free(r);
    return st;
}

void pn_recipe_free(pn_recipe *r)
{
    if (r->model) pn_model_free(r->model);
    r->model = NULL;
}
