/* pneumo: ResNet-18 as an ONNX model (pneumo/export.h). The protobuf wire
 * format is written here directly: varints, length-delimited fields and
 * fixed32 floats, field numbers from onnx.proto (ModelProto, GraphProto,
 * NodeProto, AttributeProto, TensorProto, ValueInfoProto, TypeProto). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "model/arch.h"
#include "pneumo/export.h"
#include "pneumo/util.h"
#include "pneumo/version.h"

/* ---- protobuf buffer ------------------------------------------------------ */
typedef pn__iobuf pb;

static void pb_raw(pb *b, const void *d, size_t n) { pn__iobuf_put(b, d, n); }

static void pb_varint(pb *b, uint64_t v)
{
    uint8_t t[10];
    int n = 0;
    do {
        t[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) t[n] |= 0x80;
        n++;
    } while (v);
    pb_raw(b, t, (size_t)n);
}

enum { WT_VARINT = 0, WT_LEN = 2, WT_F32 = 5 };
static void pb_key(pb *b, int field, int wt) { pb_varint(b, (uint64_t)field << 3 | (uint64_t)wt); }
static void pb_int(pb *b, int field, int64_t v)
{
    pb_key(b, field, WT_VARINT);
    pb_varint(b, (uint64_t)v); /* negative: 10-byte two's complement, as protobuf */
}
static void pb_bytes(pb *b, int field, const void *d, size_t n)
{
    pb_key(b, field, WT_LEN);
    pb_varint(b, n);
    pb_raw(b, d, n);
}
static void pb_str(pb *b, int field, const char *s) { pb_bytes(b, field, s, strlen(s)); }
static void pb_float(pb *b, int field, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    uint8_t t[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    pb_key(b, field, WT_F32);
    pb_raw(b, t, 4);
}
/* sub-message: appended as a length-delimited field, then freed */
static void pb_msg(pb *b, int field, pb *sub)
{
    if (sub->oom) b->oom = 1;
    pb_bytes(b, field, sub->p, sub->n);
    free(sub->p);
    memset(sub, 0, sizeof *sub);
}

/* ---- onnx.proto field numbers ----------------------------------------------- */
enum {
    MODEL_IR_VERSION = 1, MODEL_PRODUCER_NAME = 2, MODEL_PRODUCER_VERSION = 3, MODEL_DOC = 6,
    MODEL_GRAPH = 7, MODEL_OPSET_IMPORT = 8, MODEL_METADATA_PROPS = 14,
    OPSET_DOMAIN = 1, OPSET_VERSION = 2,
    ENTRY_KEY = 1, ENTRY_VALUE = 2,
    GRAPH_NODE = 1, GRAPH_NAME = 2, GRAPH_INITIALIZER = 5, GRAPH_DOC = 10, GRAPH_INPUT = 11,
    GRAPH_OUTPUT = 12,
    NODE_INPUT = 1, NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP_TYPE = 4, NODE_ATTRIBUTE = 5,
    ATTR_NAME = 1, ATTR_F = 2, ATTR_I = 3, ATTR_INTS = 8, ATTR_TYPE = 20,
    ATTR_T_FLOAT = 1, ATTR_T_INT = 2, ATTR_T_INTS = 7,
    TENSOR_DIMS = 1, TENSOR_DATA_TYPE = 2, TENSOR_NAME = 8, TENSOR_RAW_DATA = 9,
    TENSOR_T_FLOAT = 1,
    VI_NAME = 1, VI_TYPE = 2,
    TYPE_TENSOR = 1, TT_ELEM_TYPE = 1, TT_SHAPE = 2,
    SHAPE_DIM = 1, DIM_VALUE = 1, DIM_PARAM = 2,
};

#define IR_VERSION 7 /* ONNX 1.8, the IR that goes with opset 13 */

typedef struct attr {
    const char *name;
    int type; /* ATTR_T_* */
    float f;
    int64_t i;
    int nints;
    int64_t ints[4];
} attr;

static void add_node(pb *g, const char *op, const char *name, const char *const *in, int nin,
                     const char *out, const attr *at, int nat)
{
    pb n = {0};
    for (int k = 0; k < nin; k++) pb_str(&n, NODE_INPUT, in[k]);
    pb_str(&n, NODE_OUTPUT, out);
    pb_str(&n, NODE_NAME, name);
    pb_str(&n, NODE_OP_TYPE, op);
    for (int k = 0; k < nat; k++) {
        pb a = {0};
        pb_str(&a, ATTR_NAME, at[k].name);
        if (at[k].type == ATTR_T_FLOAT) pb_float(&a, ATTR_F, at[k].f);
        else if (at[k].type == ATTR_T_INT) pb_int(&a, ATTR_I, at[k].i);
        else
            for (int q = 0; q < at[k].nints; q++) pb_int(&a, ATTR_INTS, at[k].ints[q]);
        pb_int(&a, ATTR_TYPE, at[k].type);
        pb_msg(&n, NODE_ATTRIBUTE, &a);
    }
    pb_msg(g, GRAPH_NODE, &n);
}

/* value info: float32 tensor (dims; a dim < 0 is the symbolic "batch") */
static void add_value_info(pb *g, int field, const char *name, const int64_t *dims, int nd)
{
    pb shape = {0}, tt = {0}, type = {0}, vi = {0};
    for (int k = 0; k < nd; k++) {
        pb d = {0};
        if (dims[k] < 0) pb_str(&d, DIM_PARAM, "batch");
        else pb_int(&d, DIM_VALUE, dims[k]);
        pb_msg(&shape, SHAPE_DIM, &d);
    }
    pb_int(&tt, TT_ELEM_TYPE, TENSOR_T_FLOAT);
    pb_msg(&tt, TT_SHAPE, &shape);
    pb_msg(&type, TYPE_TENSOR, &tt);
    pb_str(&vi, VI_NAME, name);
    pb_msg(&vi, VI_TYPE, &type);
    pb_msg(g, field, &vi);
}

typedef struct gctx {
    pb *g;
    const pn_statedict *sd;
    int missing;
    char missing_name[64];
} gctx;

static void add_init(gctx *c, const char *name)
{
    const pn_tensor *t = pn_statedict_findc(c->sd, name);
    if (!t || t->dtype != PN_F32) {
        if (!c->missing) snprintf(c->missing_name, sizeof c->missing_name, "%s", name);
        c->missing++;
        return;
    }
    pb tp = {0};
    for (int k = 0; k < t->ndim; k++) pb_int(&tp, TENSOR_DIMS, t->shape[k]);
    pb_int(&tp, TENSOR_DATA_TYPE, TENSOR_T_FLOAT);
    pb_str(&tp, TENSOR_NAME, name);
    pb_bytes(&tp, TENSOR_RAW_DATA, t->data, t->numel * sizeof(float)); /* little-endian host */
    pb_msg(c->g, GRAPH_INITIALIZER, &tp);
}

/* conv (no bias) + BatchNormalization [+ Relu]: in -> out */
static void conv_bn(gctx *c, const char *conv, const char *bn, const char *in, const char *out,
                    int k, int stride, int pad, int relu)
{
    char w[96], names[5][96], y[96], z[96];
    snprintf(w, sizeof w, "%s.weight", conv);
    add_init(c, w);
    attr ca[] = {
        {"kernel_shape", ATTR_T_INTS, 0, 0, 2, {k, k}},
        {"strides", ATTR_T_INTS, 0, 0, 2, {stride, stride}},
        {"pads", ATTR_T_INTS, 0, 0, 4, {pad, pad, pad, pad}},
        {"dilations", ATTR_T_INTS, 0, 0, 2, {1, 1}},
        {"group", ATTR_T_INT, 0, 1, 0, {0}},
    };
    const char *cin[] = {in, w};
    snprintf(y, sizeof y, "%s.out", conv);
    add_node(c->g, "Conv", conv, cin, 2, y, ca, 5);
    static const char *const suf[] = {"weight", "bias", "running_mean", "running_var"};
    for (int q = 0; q < 4; q++) {
        snprintf(names[q], sizeof names[q], "%s.%s", bn, suf[q]);
        add_init(c, names[q]);
    }
    const char *bin[] = {y, names[0], names[1], names[2], names[3]};
    attr ba[] = {{"epsilon", ATTR_T_FLOAT, 1e-5f, 0, 0, {0}},
                 {"momentum", ATTR_T_FLOAT, 0.9f, 0, 0, {0}}};
    snprintf(z, sizeof z, "%s.out", bn);
    add_node(c->g, "BatchNormalization", bn, bin, 5, relu ? z : out, ba, 2);
    if (relu) {
        char rn[96];
        snprintf(rn, sizeof rn, "%s.relu", bn);
        const char *rin[] = {z};
        add_node(c->g, "Relu", rn, rin, 1, out, NULL, 0);
    }
}

/* BasicBlock of table units c1 (conv1), c2 (conv2) and ds (downsample or
 * NULL): in -> out = relu(bn2(conv2(relu(bn1(conv1 in)))) + identity) */
static void basic_block(gctx *c, const pn__arch_unit *c1, const pn__arch_unit *c2,
                        const pn__arch_unit *ds, const char *in, char *out, size_t out_cap)
{
    char p[48], a[96], b[96], idn[96], sum[96], an[64], rn[64];
    /* the block's name: "layerL.B" of "layerL.B.conv1" */
    snprintf(p, sizeof p, "%.*s", (int)(strrchr(c1->conv, '.') - c1->conv), c1->conv);
    snprintf(a, sizeof a, "%s.relu1", p);
    snprintf(b, sizeof b, "%s.bn2.y", p);
    conv_bn(c, c1->conv, c1->bn, in, a, c1->k, c1->stride, c1->pad, c1->relu);
    conv_bn(c, c2->conv, c2->bn, a, b, c2->k, c2->stride, c2->pad, c2->relu);
    snprintf(idn, sizeof idn, "%s", in);
    if (ds) {
        snprintf(idn, sizeof idn, "%s.downsample.y", p);
        conv_bn(c, ds->conv, ds->bn, in, idn, ds->k, ds->stride, ds->pad, ds->relu);
    }
    snprintf(an, sizeof an, "%s.add", p);
    snprintf(rn, sizeof rn, "%s.relu", p);
    snprintf(sum, sizeof sum, "%s.sum", p);
    const char *ain[] = {b, idn};
    add_node(c->g, "Add", an, ain, 2, sum, NULL, 0);
    snprintf(out, out_cap, "%s.out", p);
    const char *rin[] = {sum};
    add_node(c->g, "Relu", rn, rin, 1, out, NULL, 0);
}

static void add_prop(pb *m, const char *k, const char *v)
{
    pb e = {0};
    pb_str(&e, ENTRY_KEY, k);
    pb_str(&e, ENTRY_VALUE, v);
    pb_msg(m, MODEL_METADATA_PROPS, &e);
}

pn_status pn_onnx_save(const char *path, const pn_statedict *sd, const pn_model_meta *meta,
                       pn_error *err)
{
    const pn_tensor *fw = pn_statedict_findc(sd, "fc.weight");
    if (!fw || fw->ndim != 2 || fw->shape[1] != 512)
        return pn_error_set(err, PN_E_FORMAT, "ONNX export: the model has no fc.weight (C, 512) head");
    int64_t C = fw->shape[0];
    pb g = {0};
    gctx c = {&g, sd, 0, ""};
    pb_str(&g, GRAPH_NAME, "resnet18");
    pb_str(&g, GRAPH_DOC, "torchvision ResNet-18, eval mode; input normalised NCHW float32");
    /* the graph from the one ResNet-18 table (src/model/arch.c) */
    const pn__arch_unit *stem = &pn__arch[0];
    conv_bn(&c, stem->conv, stem->bn, "input", "stem.relu", stem->k, stem->stride, stem->pad,
            stem->relu);
    attr ma[] = {{"kernel_shape", ATTR_T_INTS, 0, 0, 2, {3, 3}},
                 {"strides", ATTR_T_INTS, 0, 0, 2, {2, 2}},
                 {"pads", ATTR_T_INTS, 0, 0, 4, {1, 1, 1, 1}}};
    const char *min[] = {"stem.relu"};
    add_node(&g, "MaxPool", "maxpool", min, 1, "maxpool.out", ma, 3);
    char cur[96] = "maxpool.out", nxt[96];
    for (int i = 1; i + 1 < PN__ARCH_NCONV;) {
        const pn__arch_unit *c1 = &pn__arch[i], *c2 = &pn__arch[i + 1], *ds = NULL;
        if (i + 2 < PN__ARCH_NCONV && pn__arch[i + 2].role == PN__ROLE_DOWNSAMPLE)
            ds = &pn__arch[i + 2];
        i += ds ? 3 : 2;
        basic_block(&c, c1, c2, ds, cur, nxt, sizeof nxt);
        memcpy(cur, nxt, sizeof cur);
    }
    const char *gin[] = {cur};
    add_node(&g, "GlobalAveragePool", "avgpool", gin, 1, "avgpool.out", NULL, 0);
    const char *fin[] = {"avgpool.out"};
    attr fa[] = {{"axis", ATTR_T_INT, 0, 1, 0, {0}}};
    add_node(&g, "Flatten", "flatten", fin, 1, "features", fa, 1);
    add_init(&c, "fc.weight");
    add_init(&c, "fc.bias");
    const char *gemm_in[] = {"features", "fc.weight", "fc.bias"};
    /* a calibrated model (temperature T != 1): logits / T = (x W^T + b) / T */
    const float inv_t = meta->temperature > 0 && meta->temperature != 1 ? (float)(1.0 / meta->temperature) : 1.0f;
    attr ga[] = {{"transB", ATTR_T_INT, 0, 1, 0, {0}},
                 {"alpha", ATTR_T_FLOAT, inv_t, 0, 0, {0}},
                 {"beta", ATTR_T_FLOAT, inv_t, 0, 0, {0}}};
    add_node(&g, "Gemm", "fc", gemm_in, 3, "logits", ga, 3);
    const char *sin[] = {"logits"};
    attr sa[] = {{"axis", ATTR_T_INT, 0, 1, 0, {0}}};
    add_node(&g, "Softmax", "softmax", sin, 1, "probabilities", sa, 1);
    int64_t in_dims[] = {-1, 3, meta->input_size > 0 ? meta->input_size : 224,
                         meta->input_size > 0 ? meta->input_size : 224};
    add_value_info(&g, GRAPH_INPUT, "input", in_dims, 4);
    int64_t out_dims[] = {-1, C};
    add_value_info(&g, GRAPH_OUTPUT, "probabilities", out_dims, 2);
    add_value_info(&g, GRAPH_OUTPUT, "logits", out_dims, 2);
    if (c.missing) {
        free(g.p);
        return pn_error_set(err, PN_E_FORMAT, "ONNX export: %d tensors missing or not float32 (first: %s)",
                            c.missing, c.missing_name);
    }

    pb m = {0};
    pb_int(&m, MODEL_IR_VERSION, IR_VERSION);
    pb_str(&m, MODEL_PRODUCER_NAME, "pneumo");
    pb_str(&m, MODEL_PRODUCER_VERSION, PNEUMO_VERSION);
    pb_str(&m, MODEL_DOC, "pneumo chest X-ray classifier (ResNet-18). Input 'input' (batch,3,224,224) "
                          "float32 NCHW after resize + ToTensor + Normalize(mean,std); outputs "
                          "'probabilities' (softmax) and 'logits'. Decide with the threshold in the "
                          "metadata, not argmax.");
    pb op = {0};
    pb_str(&op, OPSET_DOMAIN, "");
    pb_int(&op, OPSET_VERSION, PN_ONNX_OPSET);
    pb_msg(&m, MODEL_OPSET_IMPORT, &op);
    char buf[1024];
    size_t o = 0;
    for (int k = 0; k < meta->num_classes && o < sizeof buf - 80; k++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s", k ? "," : "", meta->class_names[k]);
    add_prop(&m, "pneumo.classes", buf);
    snprintf(buf, sizeof buf, "%.17g", meta->threshold);
    add_prop(&m, "pneumo.threshold", buf);
    if (meta->temperature > 0 && meta->temperature != 1) {
        snprintf(buf, sizeof buf, "%.17g", meta->temperature);
        add_prop(&m, "pneumo.temperature", buf); /* already applied in the graph (fc) */
    }
    snprintf(buf, sizeof buf, "%.9g,%.9g,%.9g", meta->mean[0], meta->mean[1], meta->mean[2]);
    add_prop(&m, "pneumo.mean", buf);
    snprintf(buf, sizeof buf, "%.9g,%.9g,%.9g", meta->std[0], meta->std[1], meta->std[2]);
    add_prop(&m, "pneumo.std", buf);
    /* the graph last, written straight from its buffer */
    pb_key(&m, MODEL_GRAPH, WT_LEN);
    pb_varint(&m, g.n);
    if (m.oom || g.oom) {
        free(m.p);
        free(g.p);
        return pn_error_set(err, PN_E_NOMEM, "ONNX export: out of memory");
    }
    pn_afile af;
    pn_status st = pn_afile_open(&af, path, err);
    if (!st) {
        fwrite(m.p, 1, m.n, af.f);
        fwrite(g.p, 1, g.n, af.f);
        st = pn_afile_commit(&af, err);
    }
    free(m.p);
    free(g.p);
    return st;
}
