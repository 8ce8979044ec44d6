/* pneumo: class activation maps (CAM) for GAP + linear heads.
 *
 * For ResNet-18, logit_c = sum_k w[c,k] * mean_hw A[k,h,w] + b_c, so the map
 * M_c(h,w) = sum_k w[c,k] A[k,h,w] is exact (Grad-CAM reduces to it up to
 * scale). We take ReLU(M_c), divide by its maximum (all zero stays zero),
 * upsample bilinearly (align_corners=False) to the image size and blend a
 * jet colour map over the image.
 */
#ifndef PNEUMO_CAM_H
#define PNEUMO_CAM_H

#include <stdint.h>

#include "pneumo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* act (K,h,w) layer4 activations, wc (K) head weights of the class
 * -> cam (h,w) in [0,1] */
void pn_cam_compute(const float *act, int k, int h, int w, const float *wc, float *cam);

/* Bilinear resize (align_corners=False, edge clamped) src (h,w) -> dst (H,W). */
void pn_resize_bilinear(const float *src, int h, int w, float *dst, int H, int W);

/* jet colour of v in [0,1] */
void pn_jet(float v, uint8_t rgb[3]);

/* out (H,W,3) = (1-alpha*m) * img + alpha*m * jet(m), m = cam upsampled to
 * (H,W); img (H,W,3) or (H,W,1) with channels = 3 or 1. out may alias img
 * only when channels == 3. */
pn_status pn_cam_overlay(const float *cam, int h, int w, const uint8_t *img, int H, int W,
                         int channels, float alpha, uint8_t *out, pn_error *err);

#ifdef __cplusplus
}
#endif
#endif
