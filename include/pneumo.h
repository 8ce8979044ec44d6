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
#include "pneumo/model.h"   /* trainable ResNet-18: create, load/save, get/set, forward/backward */
#include "pneumo/infer.h"   /* frozen fast ResNet-18 (BN folded, fused post-ops, bf16) */
#include "pneumo/rng.h"     /* PyTorch's mt19937, randperm, nn.Linear init */
#include "pneumo/train.h"   /* pn_fit (the one epoch loop), trainers, checkpoints, balance, split */
#include "pneumo/eval.h"    /* classifier, softmax, metrics, ROC/AUC/Youden */
#include "pneumo/cam.h"     /* class activation maps: compute and overlay */
#include "pneumo/report.h"  /* metrics.json, predictions.csv, charts, report.html */
#include "pneumo/fetch.h"   /* find/download the data set and weights (progress by callback) */
#include "pneumo/app.h"     /* pn_source / pn_extractor and pn_train_run */
#include "pneumo/version.h"
#endif
