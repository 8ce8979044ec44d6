/* pneumo: training augmentation with torchvision 0.14's semantics on PIL
 * images (Pillow 9.4), byte for byte for the same parameters, and the same
 * random decisions as torchvision under the same torch.manual_seed.
 *
 * The pipeline is, in this order (each part optional), the torchvision
 *
 *   Compose([RandomResizedCrop(size, scale, ratio, BILINEAR),
 *            RandomRotation((-deg, deg), BILINEAR, fill=0),
 *            RandomAffine(0, translate=(fx, fy)),           # NEAREST, fill 0
 *            ColorJitter(brightness=b, contrast=c),
 *            RandomHorizontalFlip(p)])                      # off by default
 *
 * applied to the already resized size x size RGB base image (the image of
 * Resize((size, size)); pneumo decodes and resizes each image once and
 * keeps that base), then ToTensor + Normalize. Parameters are drawn from a
 * pn_rng exactly as the transforms draw them from torch's global generator
 * (the DataLoader's iterator and sampler draws come first, pn_rng_sampler_epoch).
 * Horizontal flips are off unless asked for: in a chest X-ray the heart is on
 * the left, and a flipped image is anatomically wrong.
 */
#ifndef PNEUMO_AUGMENT_H
#define PNEUMO_AUGMENT_H

#include <stddef.h>

#include "pneumo/image.h"
#include "pneumo/rng.h"
#include "pneumo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pn_augment {
    int crop;                  /* RandomResizedCrop on */
    double scale[2], ratio[2]; /* its area fraction and aspect ranges */
    double rotate;             /* degrees: uniform in [-rotate, rotate]; 0 off */
    double translate[2];       /* fractions of width / height; 0 off */
    double brightness, contrast; /* ColorJitter factors in [max(0,1-b), 1+b]; 0 off */
    double hflip;              /* probability; 0 off */
} pn_augment;

/* A comma-separated list of named transforms:
 *   crop[:SMIN-SMAX[:RMIN-RMAX]]  (default 0.08-1, 0.75-1.3333333333333333)
 *   rotate:DEG  translate:FX[:FY]  brightness:B  contrast:C  hflip[:P] (P 0.5)
 *   none (nothing), default (crop:0.7-1,rotate:10,translate:0.05,brightness:0.2,contrast:0.2)
 * PN_E_ARG with the reason. */
pn_status pn_augment_parse(const char *spec, pn_augment *a, pn_error *err);
void pn_augment_describe(const pn_augment *a, char *buf, size_t n);
int pn_augment_active(const pn_augment *a);

/* The random decisions for one image (torchvision's get_params). */
typedef struct pn_augment_params {
    int crop_i, crop_j, crop_h, crop_w; /* RandomResizedCrop box (top, left, h, w) */
    double angle;                       /* RandomRotation */
    int tx, ty;                         /* RandomAffine translation in pixels */
    int order[4];                       /* ColorJitter's randperm(4) */
    double brightness, contrast;        /* factors (1: unchanged) */
    int flip;
} pn_augment_params;

/* Draws the parameters for a w x h image in torchvision's order and way. */
void pn_augment_sample(const pn_augment *a, pn_rng *g, int w, int h, pn_augment_params *p);

/* The pipeline with parameters p on in (w x h, 1 or 3 channels) -> out
 * (same size and channels); tmp is scratch. Buffers are reused. */
pn_status pn_augment_apply(const pn_augment *a, const pn_augment_params *p, const pn_image *in,
                           pn_image *out, pn_image *tmp, pn_error *err);

/* The single transforms, as torchvision.transforms.functional on a PIL
 * image (out must not be in):
 *   resized_crop  img.crop((j, i, j+w, i+h)).resize((size, size), BILINEAR)
 *   rotate        img.rotate(angle, BILINEAR, fillcolor=0) (Pillow's affine
 *                 bilinear filter; 0/90/180/270 its exact fast paths)
 *   translate     F.affine(img, 0, (tx, ty), 1, 0): NEAREST, fill 0
 *   brightness    ImageEnhance.Brightness(img).enhance(f)
 *   contrast      ImageEnhance.Contrast(img).enhance(f)
 *   hflip         img.transpose(FLIP_LEFT_RIGHT) */
pn_status pn_aug_resized_crop(const pn_image *in, int i, int j, int h, int w, int size,
                              pn_image *out, pn_image *tmp, pn_error *err);
pn_status pn_aug_rotate(const pn_image *in, double angle, pn_image *out, pn_error *err);
pn_status pn_aug_translate(const pn_image *in, int tx, int ty, pn_image *out, pn_error *err);
pn_status pn_aug_brightness(const pn_image *in, double f, pn_image *out, pn_error *err);
pn_status pn_aug_contrast(const pn_image *in, double f, pn_image *out, pn_error *err);
pn_status pn_aug_hflip(const pn_image *in, pn_image *out, pn_error *err);

#ifdef __cplusplus
}
#endif
#endif
