/* libFuzzer target: the CSV-labelled dataset reader (src/data/dataset_csv.c)
 * with each preset, over a small image folder made once per process. Any
 * input must return normally: a dataset or an error. The first byte picks
 * the preset and the options; the rest is the CSV file.
 * Built by `make fuzz`; seeds: fuzz/corpus/csv. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pneumo/dataset.h"

static char dir[256], csv[300];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/pneumo-fuzz-csv-%ld", (long)getpid());
    char p[400];
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/sub", dir);
    mkdir(p, 0755);
    static const char *const names[] = {"a.png", "b.jpeg", "sub/c.png", "sub/a.png", "p1.dcm",
                                        "patient00001_study1_view1_frontal.jpg"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        FILE *f = fopen(p, "wb");
        if (f) fclose(f);
    }
    snprintf(csv, sizeof csv, "%s/labels.csv", dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) setup();
    if (size < 1) return 0;
    FILE *f = fopen(csv, "wb");
    if (!f) return 0;
    fwrite(data + 1, 1, size - 1, f);
    fclose(f);
    pn_csv_opts o = {0};
    o.preset = (pn_csv_preset)(data[0] & 3);
    o.uncertain = (pn_csv_uncertain)((data[0] >> 2) % 3);
    o.skip_bad = (data[0] >> 4) & 1;
    if (o.preset == PN_CSV_GENERIC) {
        o.image_col = (data[0] & 32) ? "image" : "0";
        o.label_col = (data[0] & 64) ? "label" : "1";
    }
    pn_dataset *ds = NULL;
    pn_error err;
    if (pn_dataset_open_csv(dir, csv, &o, &ds, &err) == PN_OK) pn_dataset_free(ds);
    return 0;
}
