/* Safe pickle subset for PyTorch state_dicts: see pickle.h. */
#include "io/pickle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io_internal.h"

#define PK_MAX_VALUES (1u << 22) /* ~4M values: far above any state_dict */

const char *pn__pk_kind_name(int kind)
{
    static const char *names[] = {"None", "bool", "int", "int", "float", "str",
                                  "tuple", "list", "dict", "global", "storage", "tensor"};
    return kind >= 0 && kind < (int)(sizeof names / sizeof names[0]) ? names[kind] : "?";
}

void pn__pk_init(pn__pk_vm *vm, const char *file, pn_error *err)
{
    memset(vm, 0, sizeof *vm);
    vm->file = file ? file : "<memory>";
    vm->err = err;
}

void pn__pk_free(pn__pk_vm *vm)
{
    for (size_t i = 0; i < vm->nall; i++) {
        pn__pk_value *v = vm->all[i];
        if (v->kind == PK_STR || v->kind == PK_BIGINT) free(v->u.str.s);
        if (v->kind == PK_TUPLE || v->kind == PK_LIST || v->kind == PK_DICT) free(v->u.seq.v);
        free(v);
    }
    free(vm->all);
    free(vm->stack);
    free(vm->marks);
    free(vm->memo);
    memset(vm, 0, sizeof *vm);
}

static pn_status fail(pn__pk_vm *vm, pn_status code, size_t pos, const char *what)
{
    return pn_error_set(vm->err, code, "%s: pickle at byte %zu: %s", vm->file, pos, what);
}

static pn__pk_value *newval(pn__pk_vm *vm, pn__pk_kind kind)
{
    if (vm->nall >= PK_MAX_VALUES) return NULL;
    if (vm->nall == vm->capall) {
        size_t cap = vm->capall ? vm->capall * 2 : 256;
        pn__pk_value **a = realloc(vm->all, cap * sizeof *a);
        if (!a) return NULL;
        vm->all = a;
        vm->capall = cap;
    }
    pn__pk_value *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    v->kind = (uint8_t)kind;
    vm->all[vm->nall++] = v;
    return v;
}

static int push(pn__pk_vm *vm, pn__pk_value *v)
{
    if (!v) return -1;
    if (vm->sp == vm->scap) {
        size_t cap = vm->scap ? vm->scap * 2 : 64;
        pn__pk_value **s = realloc(vm->stack, cap * sizeof *s);
        if (!s) return -1;
        vm->stack = s;
        vm->scap = cap;
    }
    vm->stack[vm->sp++] = v;
    return 0;
}

static int seq_append(pn__pk_value *s, pn__pk_value *v)
{
    if (s->u.seq.n == s->u.seq.cap) {
        size_t cap = s->u.seq.cap ? s->u.seq.cap * 2 : 8;
        pn__pk_value **a = realloc(s->u.seq.v, cap * sizeof *a);
        if (!a) return -1;
        s->u.seq.v = a;
        s->u.seq.cap = cap;
    }
    s->u.seq.v[s->u.seq.n++] = v;
    return 0;
}

/* A new tuple/list from stack items [from, sp). */
static pn__pk_value *make_seq(pn__pk_vm *vm, pn__pk_kind kind, size_t from)
{
    pn__pk_value *t = newval(vm, kind);
    if (!t) return NULL;
    size_t n = vm->sp - from;
    if (n) {
        t->u.seq.v = malloc(n * sizeof *t->u.seq.v);
        if (!t->u.seq.v) return NULL;
        memcpy(t->u.seq.v, vm->stack + from, n * sizeof *t->u.seq.v);
        t->u.seq.n = t->u.seq.cap = n;
    }
    vm->sp = from;
    return t;
}

const pn__pk_value *pn__pk_dict_get(const pn__pk_value *d, const char *key)
{
    if (!d || d->kind != PK_DICT) return NULL;
    for (size_t i = 0; i + 1 < d->u.seq.n; i += 2) {
        const pn__pk_value *k = d->u.seq.v[i];
        if (k->kind == PK_STR && !strcmp(k->u.str.s, key)) return d->u.seq.v[i + 1];
    }
    return NULL;
}

static const struct {
    const char *module, *name;
    pn__pk_global g;
    int dtype;
} whitelist[] = {
    {"collections", "OrderedDict", PKG_ORDEREDDICT, 0},
    {"torch._utils", "_rebuild_tensor_v2", PKG_REBUILD_TENSOR_V2, 0},
    {"torch._utils", "_rebuild_parameter", PKG_REBUILD_PARAMETER, 0},
    {"torch._utils", "_rebuild_parameter_with_state", PKG_REBUILD_PARAMETER_STATE, 0},
    {"torch", "FloatStorage", PKG_STORAGE, PN_F32},
    {"torch", "HalfStorage", PKG_STORAGE, PN_F16},
    {"torch", "BFloat16Storage", PKG_STORAGE, PN_BF16},
    {"torch", "DoubleStorage", PKG_STORAGE, PN_F64},
    {"torch", "LongStorage", PKG_STORAGE, PN_I64},
    {"torch", "IntStorage", PKG_STORAGE, PN_I32},
    {"torch", "ByteStorage", PKG_STORAGE, PN_U8},
    {"torch", "CharStorage", PKG_STORAGE, PN_I8},
    {"torch", "BoolStorage", PKG_STORAGE, PN_BOOL},
    {"torch", "ShortStorage", PKG_STORAGE, PK_DTYPE_UNSUPPORTED},
    {"torch", "ComplexFloatStorage", PKG_STORAGE, PK_DTYPE_UNSUPPORTED},
    {"torch", "ComplexDoubleStorage", PKG_STORAGE, PK_DTYPE_UNSUPPORTED},
};

/* Reads "text\n" at buf[*pos..n) (at most 256 bytes) into out. */
static int read_line(const uint8_t *buf, size_t n, size_t *pos, char *out, size_t outsz)
{
    size_t i = *pos, k = 0;
    while (i < n && buf[i] != '\n') {
        if (k + 1 >= outsz || buf[i] < 0x20 || buf[i] >= 0x7f) return -1;
        out[k++] = (char)buf[i++];
    }
    if (i >= n) return -1;
    out[k] = '\0';
    *pos = i + 1;
    return 0;
}

static int is_int(const pn__pk_value *v) { return v->kind == PK_INT || v->kind == PK_BOOL; }

static int int_tuple(const pn__pk_value *t, int64_t *out, int *n)
{
    if (t->kind != PK_TUPLE || t->u.seq.n > PN_MAX_DIMS) return -1;
    for (size_t i = 0; i < t->u.seq.n; i++) {
        if (t->u.seq.v[i]->kind != PK_INT) return -1;
        out[i] = t->u.seq.v[i]->u.i;
    }
    *n = (int)t->u.seq.n;
    return 0;
}

/* The call of a whitelisted global on an argument tuple. */
static pn_status call(pn__pk_vm *vm, size_t pos, const pn__pk_value *fn, const pn__pk_value *args,
                      pn__pk_value **out)
{
    if (fn->kind != PK_GLOBAL) return fail(vm, PN_E_FORMAT, pos, "REDUCE on a non-callable");
    if (args->kind != PK_TUPLE) return fail(vm, PN_E_FORMAT, pos, "REDUCE arguments are not a tuple");
    size_t na = args->u.seq.n;
    pn__pk_value *const *a = args->u.seq.v;
    switch ((pn__pk_global)fn->global) {
    case PKG_ORDEREDDICT:
        if (na != 0) return fail(vm, PN_E_UNSUPPORTED, pos, "OrderedDict called with arguments");
        *out = newval(vm, PK_DICT);
        break;
    case PKG_REBUILD_TENSOR_V2: {
        if (na != 6 && na != 7)
            return fail(vm, PN_E_FORMAT, pos, "_rebuild_tensor_v2 needs 6 or 7 arguments");
        if (a[0]->kind != PK_STORAGE || a[1]->kind != PK_INT)
            return fail(vm, PN_E_FORMAT, pos,
                        "_rebuild_tensor_v2: argument 1 must be a storage and 2 an int");
        pn__pk_value *t = newval(vm, PK_TENSOR);
        if (!t) break;
        int ns = 0, nst = 0;
        if (int_tuple(a[2], t->u.tensor.shape, &ns) || int_tuple(a[3], t->u.tensor.stride, &nst) ||
            ns != nst)
            return fail(vm, PN_E_FORMAT, pos,
                        "_rebuild_tensor_v2: size and stride must be int tuples of the same "
                        "length (at most 8)");
        if (!is_int(a[4]))
            return fail(vm, PN_E_FORMAT, pos, "_rebuild_tensor_v2: requires_grad is not a bool");
        t->u.tensor.storage = a[0];
        t->u.tensor.offset = a[1]->u.i;
        t->u.tensor.ndim = ns;
        *out = t;
        break;
    }
    case PKG_REBUILD_PARAMETER:
    case PKG_REBUILD_PARAMETER_STATE:
        if (na < 3 || na > 4 || a[0]->kind != PK_TENSOR)
            return fail(vm, PN_E_FORMAT, pos, "_rebuild_parameter: bad arguments");
        *out = a[0];
        return PN_OK;
    case PKG_STORAGE:
        return fail(vm, PN_E_UNSUPPORTED, pos, "a storage type is called (not a state_dict)");
    default:
        return fail(vm, PN_E_FORMAT, pos, "REDUCE on an unknown global");
    }
    return *out ? PN_OK : fail(vm, PN_E_NOMEM, pos, "out of memory or too many values");
}

/* BINPERSID: ('storage', <Storage type>, key, location, numel[, view_metadata]). */
static pn_status persistent_load(pn__pk_vm *vm, size_t pos, const pn__pk_value *pid, pn__pk_value **out)
{
    if (pid->kind != PK_TUPLE || pid->u.seq.n < 5 || pid->u.seq.n > 6)
        return fail(vm, PN_E_FORMAT, pos, "persistent id is not a 5- or 6-tuple");
    pn__pk_value *const *a = pid->u.seq.v;
    if (a[0]->kind != PK_STR || strcmp(a[0]->u.str.s, "storage"))
        return fail(vm, PN_E_UNSUPPORTED, pos,
                    "persistent id is not a 'storage' (whole pickled modules are not supported)");
    if (a[1]->kind != PK_GLOBAL || a[1]->global != PKG_STORAGE || a[2]->kind != PK_STR ||
        a[3]->kind != PK_STR || a[4]->kind != PK_INT || a[4]->u.i < 0)
        return fail(vm, PN_E_FORMAT, pos,
                    "storage id must be ('storage', torch.<T>Storage, key, location, numel)");
    if (pid->u.seq.n == 6 && a[5]->kind != PK_NONE)
        return fail(vm, PN_E_UNSUPPORTED, pos, "legacy storage views are not supported");
    pn__pk_value *s = newval(vm, PK_STORAGE);
    if (!s) return fail(vm, PN_E_NOMEM, pos, "out of memory or too many values");
    s->dtype = a[1]->dtype;
    s->u.storage.key = a[2]->u.str.s;
    s->u.storage.type = a[1]->u.storage.type;
    s->u.storage.numel = a[4]->u.i;
    *out = s;
    return PN_OK;
}

static pn_status memo_put(pn__pk_vm *vm, size_t pos, size_t idx, size_t n)
{
    if (!vm->sp) return fail(vm, PN_E_FORMAT, pos, "memo put on an empty stack");
    if (idx > n + 1024) return fail(vm, PN_E_FORMAT, pos, "memo index out of range");
    if (idx >= vm->capmemo) {
        size_t nm = idx + 1 > vm->capmemo * 2 ? idx + 1 : vm->capmemo * 2;
        pn__pk_value **m = realloc(vm->memo, nm * sizeof *m);
        if (!m) return fail(vm, PN_E_NOMEM, pos, "out of memory for the memo");
        memset(m + vm->capmemo, 0, (nm - vm->capmemo) * sizeof *m);
        vm->memo = m;
        vm->capmemo = nm;
    }
    if (idx >= vm->nmemo) vm->nmemo = idx + 1;
    vm->memo[idx] = vm->stack[vm->sp - 1];
    return PN_OK;
}

pn_status pn__pk_run(pn__pk_vm *vm, const uint8_t *buf, size_t n, size_t *used, pn__pk_value **out)
{
    size_t i = 0;
    vm->sp = 0;
    vm->nmarks = 0;
    free(vm->memo);
    vm->memo = NULL;
    vm->nmemo = vm->capmemo = 0;
#define NEED(k)                                                            \
    do {                                                                   \
        if (n - i < (size_t)(k)) return fail(vm, PN_E_FORMAT, op_pos, "truncated"); \
    } while (0)
#define PUSH(v)                                                                         \
    do {                                                                                \
        if (push(vm, (v))) return fail(vm, PN_E_NOMEM, op_pos, "out of memory or too many values"); \
    } while (0)
#define POP_INTO(x)                                                                 \
    do {                                                                            \
        if (vm->sp == 0 || (vm->nmarks && vm->marks[vm->nmarks - 1] >= vm->sp))     \
            return fail(vm, PN_E_FORMAT, op_pos, "stack underflow");                \
        (x) = vm->stack[--vm->sp];                                                  \
    } while (0)
    while (i < n) {
        size_t op_pos = i;
        uint8_t op = buf[i++];
        pn__pk_value *v = NULL, *w = NULL, *x = NULL;
        pn_status st;
        switch (op) {
        case 0x80: /* PROTO */
            NEED(1);
            if (buf[i] > 5) return fail(vm, PN_E_UNSUPPORTED, op_pos, "pickle protocol above 5");
            i++;
            break;
        case 0x95: /* FRAME: just a length hint */
            NEED(8);
            i += 8;
            break;
        case '.': /* STOP */
            if (vm->sp != 1 || vm->nmarks)
                return fail(vm, PN_E_FORMAT, op_pos, "STOP with a stack not holding one value");
            *out = vm->stack[0];
            *used = i;
            return PN_OK;
        case 'c': { /* GLOBAL module\nname\n */
            char mod[257], name[257];
            if (read_line(buf, n, &i, mod, sizeof mod) || read_line(buf, n, &i, name, sizeof name))
                return fail(vm, PN_E_FORMAT, op_pos, "bad GLOBAL");
            size_t k;
            for (k = 0; k < sizeof whitelist / sizeof whitelist[0]; k++)
                if (!strcmp(mod, whitelist[k].module) && !strcmp(name, whitelist[k].name)) break;
            if (k == sizeof whitelist / sizeof whitelist[0] && !strncmp(mod, "__torch__", 9))
                return pn_error_set(vm->err, PN_E_UNSUPPORTED,
                                    "%s is a TorchScript archive (torch.jit.save of '%s.%s'), not "
                                    "a state_dict: save model.state_dict() with torch.save and "
                                    "give that file (nothing was executed)",
                                    vm->file, mod, name);
            if (k == sizeof whitelist / sizeof whitelist[0])
                return pn_error_set(vm->err, PN_E_UNSUPPORTED,
                                    "%s: pickle at byte %zu: forbidden global '%s.%s' (only "
                                    "collections.OrderedDict, torch._utils tensor/parameter "
                                    "rebuilders and torch.*Storage types are allowed; nothing "
                                    "is executed; for a whole pickled model, save "
                                    "model.state_dict() instead)",
                                    vm->file, op_pos, mod, name);
            v = newval(vm, PK_GLOBAL);
            if (v) {
                v->global = (uint8_t)whitelist[k].g;
                v->dtype = (int8_t)whitelist[k].dtype;
                v->u.storage.type = whitelist[k].name;
            }
            PUSH(v);
            break;
        }
        case 'q': /* BINPUT */
            NEED(1);
            if ((st = memo_put(vm, op_pos, buf[i], n))) return st;
            i++;
            break;
        case 'r': /* LONG_BINPUT */
            NEED(4);
            if ((st = memo_put(vm, op_pos, pn__le32(buf + i), n))) return st;
            i += 4;
            break;
        case 0x94: /* MEMOIZE */
            if ((st = memo_put(vm, op_pos, vm->nmemo, n))) return st;
            break;
        case 'h': /* BINGET */
        case 'j': { /* LONG_BINGET */
            size_t idx;
            if (op == 'h') {
                NEED(1);
                idx = buf[i++];
            } else {
                NEED(4);
                idx = pn__le32(buf + i);
                i += 4;
            }
            if (idx >= vm->nmemo || !vm->memo[idx])
                return fail(vm, PN_E_FORMAT, op_pos, "memo get of an unset index");
            PUSH(vm->memo[idx]);
            break;
        }
        case '(': /* MARK */
            if (vm->nmarks == vm->capmarks) {
                size_t cap = vm->capmarks ? vm->capmarks * 2 : 16;
                size_t *m = realloc(vm->marks, cap * sizeof *m);
                if (!m) return fail(vm, PN_E_NOMEM, op_pos, "out of memory");
                vm->marks = m;
                vm->capmarks = cap;
            }
            vm->marks[vm->nmarks++] = vm->sp;
            break;
        case ')': /* EMPTY_TUPLE */
            PUSH(newval(vm, PK_TUPLE));
            break;
        case 't': /* TUPLE */
        case 'l': /* LIST */
            if (!vm->nmarks) return fail(vm, PN_E_FORMAT, op_pos, "TUPLE/LIST without MARK");
            v = make_seq(vm, op == 't' ? PK_TUPLE : PK_LIST, vm->marks[--vm->nmarks]);
            PUSH(v);
            break;
        case 0x85: /* TUPLE1 */
        case 0x86: /* TUPLE2 */
        case 0x87: { /* TUPLE3 */
            size_t k = (size_t)(op - 0x84);
            size_t floor = vm->nmarks ? vm->marks[vm->nmarks - 1] : 0;
            if (vm->sp < floor + k) return fail(vm, PN_E_FORMAT, op_pos, "stack underflow");
            v = make_seq(vm, PK_TUPLE, vm->sp - k);
            PUSH(v);
            break;
        }
        case '}': /* EMPTY_DICT */
            PUSH(newval(vm, PK_DICT));
            break;
        case ']': /* EMPTY_LIST */
            PUSH(newval(vm, PK_LIST));
            break;
        case 'd': /* DICT */
        case 's': /* SETITEM */
        case 'u': /* SETITEMS */
        case 'a': /* APPEND */
        case 'e': { /* APPENDS */
            size_t from;
            pn__pk_value *target;
            if (op == 's' || op == 'a') {
                size_t floor = vm->nmarks ? vm->marks[vm->nmarks - 1] : 0;
                size_t k = op == 's' ? 2 : 1;
                if (vm->sp < floor + k + 1) return fail(vm, PN_E_FORMAT, op_pos, "stack underflow");
                from = vm->sp - k;
                target = vm->stack[from - 1];
            } else {
                if (!vm->nmarks) return fail(vm, PN_E_FORMAT, op_pos, "missing MARK");
                from = vm->marks[--vm->nmarks];
                if (op == 'd') {
                    target = newval(vm, PK_DICT);
                    if (!target) return fail(vm, PN_E_NOMEM, op_pos, "out of memory or too many values");
                } else {
                    if (from == 0) return fail(vm, PN_E_FORMAT, op_pos, "stack underflow");
                    target = vm->stack[from - 1];
                }
            }
            int is_dict_op = op == 'd' || op == 's' || op == 'u';
            if (target->kind != (is_dict_op ? PK_DICT : PK_LIST))
                return fail(vm, PN_E_FORMAT, op_pos,
                            is_dict_op ? "SETITEM(S) on a non-dict" : "APPEND(S) on a non-list");
            if (is_dict_op && (vm->sp - from) % 2)
                return fail(vm, PN_E_FORMAT, op_pos, "odd number of dict items");
            for (size_t k = from; k < vm->sp; k++)
                if (seq_append(target, vm->stack[k]))
                    return fail(vm, PN_E_NOMEM, op_pos, "out of memory");
            vm->sp = from;
            if (op == 'd') PUSH(target);
            break;
        }
        case 'K': /* BININT1 */
            NEED(1);
            v = newval(vm, PK_INT);
            if (v) v->u.i = buf[i];
            i++;
            PUSH(v);
            break;
        case 'M': /* BININT2 */
            NEED(2);
            v = newval(vm, PK_INT);
            if (v) v->u.i = pn__le16(buf + i);
            i += 2;
            PUSH(v);
            break;
        case 'J': /* BININT */
            NEED(4);
            v = newval(vm, PK_INT);
            if (v) v->u.i = (int32_t)pn__le32(buf + i);
            i += 4;
            PUSH(v);
            break;
        case 0x8a: { /* LONG1 */
            NEED(1);
            size_t k = buf[i++];
            NEED(k);
            if (k <= 8) {
                v = newval(vm, PK_INT);
                if (v) {
                    uint64_t u = 0;
                    for (size_t b = 0; b < k; b++) u |= (uint64_t)buf[i + b] << (8 * b);
                    if (k && k < 8 && (buf[i + k - 1] & 0x80)) u |= ~(uint64_t)0 << (8 * k);
                    memcpy(&v->u.i, &u, 8);
                }
            } else { /* kept as bytes: only compared (the legacy magic number) */
                v = newval(vm, PK_BIGINT);
                if (v) {
                    v->u.str.s = malloc(k);
                    if (!v->u.str.s) return fail(vm, PN_E_NOMEM, op_pos, "out of memory");
                    memcpy(v->u.str.s, buf + i, k);
                    v->u.str.len = k;
                }
            }
            i += k;
            PUSH(v);
            break;
        }
        case 'G': { /* BINFLOAT, big-endian */
            NEED(8);
            uint64_t u = 0;
            for (int b = 0; b < 8; b++) u = (u << 8) | buf[i + b];
            i += 8;
            v = newval(vm, PK_FLOAT);
            if (v) memcpy(&v->u.f, &u, 8);
            PUSH(v);
            break;
        }
        case 'X':   /* BINUNICODE */
        case 0x8c:  /* SHORT_BINUNICODE */
        case 'T':   /* BINSTRING */
        case 'U': { /* SHORT_BINSTRING */
            size_t k;
            if (op == 'X' || op == 'T') {
                NEED(4);
                k = pn__le32(buf + i);
                i += 4;
            } else {
                NEED(1);
                k = buf[i++];
            }
            NEED(k);
            v = newval(vm, PK_STR);
            if (v) {
                v->u.str.s = malloc(k + 1);
                if (!v->u.str.s) return fail(vm, PN_E_NOMEM, op_pos, "out of memory");
                memcpy(v->u.str.s, buf + i, k);
                v->u.str.s[k] = '\0';
                v->u.str.len = k;
                if (memchr(v->u.str.s, '\0', k))
                    return fail(vm, PN_E_FORMAT, op_pos, "string with a NUL byte");
            }
            i += k;
            PUSH(v);
            break;
        }
        case 0x88: /* NEWTRUE */
        case 0x89: /* NEWFALSE */
            v = newval(vm, PK_BOOL);
            if (v) v->u.i = op == 0x88;
            PUSH(v);
            break;
        case 'N': /* NONE */
            PUSH(newval(vm, PK_NONE));
            break;
        case '0': /* POP */
            POP_INTO(v);
            break;
        case '1': /* POP_MARK */
            if (!vm->nmarks) return fail(vm, PN_E_FORMAT, op_pos, "POP_MARK without MARK");
            vm->sp = vm->marks[--vm->nmarks];
            break;
        case 'R':    /* REDUCE */
        case 0x81: { /* NEWOBJ */
            POP_INTO(w);
            POP_INTO(v);
            if ((st = call(vm, op_pos, v, w, &x))) return st;
            PUSH(x);
            break;
        }
        case 'Q': /* BINPERSID */
            POP_INTO(v);
            if ((st = persistent_load(vm, op_pos, v, &x))) return st;
            PUSH(x);
            break;
        case 'b': /* BUILD: only the state_dict's {'_metadata': ...}, ignored */
            POP_INTO(w);
            if (!vm->sp) return fail(vm, PN_E_FORMAT, op_pos, "stack underflow");
            if (vm->stack[vm->sp - 1]->kind != PK_DICT)
                return fail(vm, PN_E_UNSUPPORTED, op_pos, "BUILD on something other than a dict");
            break;
        default: {
            char msg[64];
            snprintf(msg, sizeof msg, "unsupported opcode 0x%02x", op);
            return fail(vm, PN_E_UNSUPPORTED, op_pos, msg);
        }
        }
    }
    return fail(vm, PN_E_FORMAT, n, "truncated: no STOP opcode");
#undef NEED
#undef PUSH
#undef POP_INTO
}
