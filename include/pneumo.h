/* pneumo: the whole public C API. Include this, link libpneumo.a. */
#ifndef PNEUMO_H
#define PNEUMO_H
#include "pneumo/fetch.h"
#include "pneumo/model.h"
#include "pneumo/status.h"
#include "pneumo/image.h"
#include "pneumo/dataset.h"
#include "pneumo/tensor.h"
#include "pneumo/infer.h"
#include "pneumo/util.h"
#include "pneumo/weights.h"
#include "pneumo/version.h"
#include "pneumo/eval.h"
#include "pneumo/rng.h"
#include "pneumo/train.h"
#include "pneumo/report.h"
#include "pneumo/cam.h"
#include "pneumo/app.h"
#include "pneumo/plot_png.h"
#endif
