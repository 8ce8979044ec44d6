/* pneumo train's settings as recorded in model.safetensors (the
 * "pneumo.training" metadata): typed JSON, the seed's keys first and the
 * optimisation options only when they differ from the seed's recipe. */
#include <cJSON.h>

#include "cli.h"
#include "pneumo/app.h"

/* The training settings recorded in model.safetensors (cJSON). */
char *pn_cli_training_json(long epochs, long batch, double lr, long seed, const char *freeze,
                           pn_balance balance, double val_split, const char *threshold, int bf16,
                           int fast, int shuffle, const pn_fit_cfg *fc)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "epochs", (double)epochs);
    cJSON_AddNumberToObject(o, "batch", (double)batch);
    cJSON_AddNumberToObject(o, "lr", lr);
    cJSON_AddNumberToObject(o, "seed", (double)seed);
    cJSON_AddStringToObject(o, "freeze", freeze);
    cJSON_AddStringToObject(o, "balance", pn_balance_name(balance));
    cJSON_AddNumberToObject(o, "val_split", val_split);
    cJSON_AddStringToObject(o, "threshold", threshold);
    cJSON_AddNumberToObject(o, "bf16", bf16);
    if (fc->bf16) cJSON_AddNumberToObject(o, "bf16_train", 1); /* only when on: as before otherwise */
    cJSON_AddNumberToObject(o, "fast_decode", fast);
    cJSON_AddNumberToObject(o, "shuffle", shuffle);
    cJSON_AddStringToObject(o, "optimizer", pn_optimizer_name(fc->optim.kind));
    if (fc->optim.kind || fc->optim.weight_decay) { /* the seed's record stays as it was */
        cJSON_AddNumberToObject(o, "weight_decay", fc->optim.weight_decay);
        cJSON_AddNumberToObject(o, "momentum", fc->optim.momentum);
        cJSON_AddNumberToObject(o, "nesterov", fc->optim.nesterov);
    }
    if (fc->schedule.kind || fc->schedule.warmup) {
        char sch[256];
        pn_lr_schedule_describe(&fc->schedule, sch, sizeof sch);
        cJSON_AddStringToObject(o, "lr_schedule", sch);
    }
    if (fc->select || fc->patience) {
        cJSON_AddStringToObject(o, "select", pn_select_name(fc->select));
        cJSON_AddNumberToObject(o, "patience", fc->patience);
    }
    char *txt = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return txt;
}
