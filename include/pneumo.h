/* pneumo: the public C API, one header per task. Include this, link
 * libpneumo.a (see the Makefile's PKGS for the libraries it needs). */
#ifndef PNEUMO_H
#define PNEUMO_H
#include "pneumo/status.h"  /* pn_status, pn_error */
#include "pneumo/tensor.h"  /* pn_tensor, pn_statedict, PN_MAX_CLASSES */
#include "pneumo/util.h"    /* atomic files, paths, cache dir, SHA-256, pn_now */
#include "pneumo/image.h"   /* decode, Pillow resize, ToTensor + Normalize */
#include "pneumo/dataset.h" /* folder/zip/npz data sets, image walker, loader, stats */
#include "pneumo/weights.h" /* .pth and safetensors, model files, ResNet-18 keys */
#include "pneumo/model.h"
#include "pneumo/infer.h"
#include "pneumo/train.h"
#include "pneumo/rng.h"
#include "pneumo/head.h"
#include "pneumo/metrics.h"
#include "pneumo/predict.h"
#include "pneumo/cam.h"
#include "pneumo/report.h"
#include "pneumo/fetch.h"   /* find/download the data set and weights (progress by callback) */
#include "pneumo/app.h"
#include "pneumo/version.h"
#endif
