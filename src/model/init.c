/* torchvision's ResNet-18 initialisation (--weights none): what
 * torch.manual_seed(seed); torchvision.models.resnet18(num_classes=K) draws.
 *
 * Construction first: every Conv2d's reset_parameters (kaiming_uniform_, one
 * draw per element, in construction order) and then fc = nn.Linear(512, K)
 * (weight, bias); then ResNet.__init__'s loop over modules(): convs
 * kaiming_normal_(mode="fan_out", nonlinearity="relu"), i.e. normal_(0,
 * sqrt(2)/sqrt(out*k*k)), in state_dict order; BatchNorm weight 1, bias 0
 * (running mean 0, var 1, num_batches_tracked 0). The conv values drawn at
 * construction are overwritten, so only their count matters here. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/model.h"
#include "pneumo/rng.h"

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

pn_status pn_model_init_torchvision(pn_model *m, uint64_t seed, pn_error *err)
{
    pn_statedict sd;
    pn_statedict_init(&sd);
    PN_TRY(pn_model_save(m, &sd, err)); /* every tensor, names and shapes */
    pn_rng g;
    pn_rng_seed(&g, seed);
    size_t conv_draws = 0;
    pn_tensor *fcw = NULL, *fcb = NULL;
    for (size_t i = 0; i < sd.n; i++) {
        pn_tensor *t = &sd.t[i];
        if (t->ndim == 4) conv_draws += t->numel;
        if (!strcmp(t->name, "fc.weight")) fcw = t;
        if (!strcmp(t->name, "fc.bias")) fcb = t;
    }
    pn_status rc = PN_OK;
    if (!fcw || !fcb || fcw->ndim != 2 || fcw->shape[1] != 512) {
        rc = pn_error_set(err, PN_E_BACKEND, "init: the model has no fc (K, 512)");
        goto done;
    }
    for (size_t i = 0; i < conv_draws; i++) (void)pn_rng_u32(&g); /* construction's convs */
    pn_rng_linear_init(&g, fcw->data, fcb->data, (int)fcw->shape[0], 512);
    for (size_t i = 0; i < sd.n; i++) {
        pn_tensor *t = &sd.t[i];
        if (t == fcw || t == fcb) continue;
        if (t->ndim == 4) {
            double fan_out = (double)(t->shape[0] * t->shape[2] * t->shape[3]);
            pn_rng_normal(&g, t->data, t->numel, 0.0, sqrt(2.0) / sqrt(fan_out));
        } else if (t->dtype == PN_I64) {
            memset(t->data, 0, t->numel * sizeof(int64_t)); /* num_batches_tracked */
        } else {
            float v = ends_with(t->name, "running_var") || ends_with(t->name, ".weight") ? 1.0f : 0.0f;
            float *d = t->data;
            for (size_t k = 0; k < t->numel; k++) d[k] = v;
        }
    }
    rc = pn_model_load(m, &sd, 0, err);
done:
    pn_statedict_free(&sd);
    return rc;
}
