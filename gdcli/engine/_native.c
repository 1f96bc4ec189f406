/*
 * gdcli.engine._native: the per-iteration work of a many-start descent as compiled
 * loops, each making exactly the floating-point operations of the numpy calls it
 * stands for, in the same order, so that the numbers are the same to the last bit.
 *
 * Every operation here is one correctly rounded IEEE 754 operation in double
 * precision (+, -, *, /, sqrt, negation, comparisons), whose result does not depend
 * on how it is computed. Contraction of a*b + c into one fused multiply-add would
 * change results, so this file is compiled with -ffp-contract=off (setup in
 * pyproject.toml) and says so to compilers that read the pragma.
 *
 * Arrays come in through the buffer protocol (float64, C-contiguous); no numpy
 * headers are needed to build it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* The loops compiled for AVX-512 and AVX2 too, the one for this processor chosen
 * when the module loads: wider vectors, the same correctly rounded operations. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define WIDE __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define WIDE
#endif

/* -- buffers ---------------------------------------------------------------- */

typedef struct {
    Py_buffer view;
    double *data;
    Py_ssize_t n;
    int held;
} Doubles;

static void release(Doubles *d) {
    if (d->held) {
        PyBuffer_Release(&d->view);
        d->held = 0;
    }
}

/* a float64 C-contiguous buffer of obj; writable when asked */
static int doubles(PyObject *obj, Doubles *d, int writable, const char *name) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    d->held = 0;
    if (PyObject_GetBuffer(obj, &d->view, flags) < 0) {
        PyErr_Format(PyExc_TypeError, "%s: a contiguous%s float64 array is needed", name,
                     writable ? ", writable" : "");
        return -1;
    }
    d->held = 1;
    const char *f = d->view.format;
    if (d->view.itemsize != 8 || f == NULL || !(strcmp(f, "d") == 0 || strcmp(f, "<d") == 0 ||
                                                 strcmp(f, "=d") == 0)) {
        release(d);
        PyErr_Format(PyExc_TypeError, "%s: float64 is needed", name);
        return -1;
    }
    d->data = (double *)d->view.buf;
    d->n = d->view.len / 8;
    return 0;
}

static int same_length(Doubles *a, Py_ssize_t n, const char *name) {
    if (a->n != n) {
        PyErr_Format(PyExc_ValueError, "%s: %zd numbers, expected %zd", name, a->n, n);
        return -1;
    }
    return 0;
}

/* numpy's maximum: nan when either is nan, else the larger (the second on a tie:
 * maximum(0.0, -0.0) is -0.0) */
static inline double np_maximum(double a, double b) { return (a > b || isnan(a)) ? a : b; }

/* -- Adam --------------------------------------------------------------------- */

/*
 * adam(g, m, v, v_max | None, out, b1, b2, c1, c2, eps, bc1, root_bc2)
 *
 * torch Adam's scaling of one leaf, as gdcli.optim.transforms._adam_arrays makes it:
 *   m = m*b1 + g*c1;  v = v*b2 + (g*g)*c2;  (AMSGrad: v_max = maximum(v_max, v))
 *   out = m / (((sqrt(v) / root_bc2) + eps) * bc1)
 * with c1 = 1 - b1 and c2 = 1 - b2 as the caller computed them. g may be out.
 */
WIDE static void adam_loop(Py_ssize_t n, const double *gp, double *restrict mp,
                           double *restrict vp, double *restrict vx, double *op,
                           const double *k) {
    const double b1 = k[0], b2 = k[1], c1 = k[2], c2 = k[3], eps = k[4], bc1 = k[5];
    const double root_bc2 = k[6];
    /* one loop; the compiler makes two of it, with and without AMSGrad */
    for (Py_ssize_t i = 0; i < n; i++) {
        double gi = gp[i];
        double mi = mp[i] * b1 + gi * c1;
        double vi = vp[i] * b2 + (gi * gi) * c2;
        mp[i] = mi;
        vp[i] = vi;
        if (vx != NULL) {
            vi = np_maximum(vx[i], vi);
            vx[i] = vi;
        }
        op[i] = mi / (((sqrt(vi) / root_bc2) + eps) * bc1);
    }
}

static PyObject *adam(PyObject *self, PyObject *args) {
    PyObject *og, *om, *ov, *ovmax, *oout;
    double b1, b2, c1, c2, eps, bc1, root_bc2;
    if (!PyArg_ParseTuple(args, "OOOOOddddddd", &og, &om, &ov, &ovmax, &oout, &b1, &b2, &c1,
                          &c2, &eps, &bc1, &root_bc2))
        return NULL;
    Doubles g = {0}, m = {0}, v = {0}, vmax = {0}, out = {0};
    PyObject *result = NULL;
    if (doubles(og, &g, 0, "g") < 0 || doubles(om, &m, 1, "m") < 0 ||
        doubles(ov, &v, 1, "v") < 0 || doubles(oout, &out, 1, "out") < 0)
        goto done;
    int ams = ovmax != Py_None;
    if (ams && doubles(ovmax, &vmax, 1, "v_max") < 0)
        goto done;
    Py_ssize_t n = g.n;
    if (same_length(&m, n, "m") < 0 || same_length(&v, n, "v") < 0 ||
        same_length(&out, n, "out") < 0 || (ams && same_length(&vmax, n, "v_max") < 0))
        goto done;
    Py_BEGIN_ALLOW_THREADS
    adam_loop(n, g.data, m.data, v.data, ams ? vmax.data : NULL, out.data,
              (double[]){b1, b2, c1, c2, eps, bc1, root_bc2});
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    release(&g);
    release(&m);
    release(&v);
    release(&vmax);
    release(&out);
    return result;
}

/* -- RMSprop and Adagrad --------------------------------------------------------- */

/*
 * rms(g, sq, mean | None, out, alpha, c, eps): torch RMSprop's scaling of one leaf,
 * as gdcli.optim.transforms.scale_by_rms makes it, with c = 1 - alpha:
 *   sq = sq*alpha + (g*g)*c;  centered: mean = mean*alpha + g*c,
 *   out = g / (sqrt(maximum(sq - mean*mean, 0)) + eps);  else out = g / (sqrt(sq) + eps)
 * adagrad(g, s, out, eps):  s = s + g*g;  out = g / (sqrt(s) + eps).  g may be out.
 */
WIDE static void rms_loop(Py_ssize_t n, const double *gp, double *restrict sp,
                          double *restrict mp, double *op, double alpha, double c, double eps) {
    for (Py_ssize_t i = 0; i < n; i++) {
        double gi = gp[i];
        double si = sp[i] * alpha + (gi * gi) * c;
        sp[i] = si;
        if (mp != NULL) {
            double mi = mp[i] * alpha + gi * c;
            mp[i] = mi;
            si = np_maximum(si - mi * mi, 0.0);
        }
        op[i] = gi / (sqrt(si) + eps);
    }
}

WIDE static void adagrad_loop(Py_ssize_t n, const double *gp, double *restrict sp, double *op,
                              double eps) {
    for (Py_ssize_t i = 0; i < n; i++) {
        double gi = gp[i];
        double si = sp[i] + gi * gi;
        sp[i] = si;
        op[i] = gi / (sqrt(si) + eps);
    }
}

static PyObject *rms(PyObject *self, PyObject *args) {
    PyObject *og, *os, *om, *oout;
    double alpha, c, eps;
    if (!PyArg_ParseTuple(args, "OOOOddd", &og, &os, &om, &oout, &alpha, &c, &eps))
        return NULL;
    Doubles g = {0}, sq = {0}, mean = {0}, out = {0};
    PyObject *result = NULL;
    if (doubles(og, &g, 0, "g") < 0 || doubles(os, &sq, 1, "sq") < 0 ||
        doubles(oout, &out, 1, "out") < 0)
        goto done;
    int centered = om != Py_None;
    if (centered && doubles(om, &mean, 1, "mean") < 0)
        goto done;
    Py_ssize_t n = g.n;
    if (same_length(&sq, n, "sq") < 0 || same_length(&out, n, "out") < 0 ||
        (centered && same_length(&mean, n, "mean") < 0))
        goto done;
    Py_BEGIN_ALLOW_THREADS
    rms_loop(n, g.data, sq.data, centered ? mean.data : NULL, out.data, alpha, c, eps);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    release(&g);
    release(&sq);
    release(&mean);
    release(&out);
    return result;
}

static PyObject *adagrad(PyObject *self, PyObject *args) {
    PyObject *og, *os, *oout;
    double eps;
    if (!PyArg_ParseTuple(args, "OOOd", &og, &os, &oout, &eps))
        return NULL;
    Doubles g = {0}, s = {0}, out = {0};
    PyObject *result = NULL;
    if (doubles(og, &g, 0, "g") < 0 || doubles(os, &s, 1, "s") < 0 ||
        doubles(oout, &out, 1, "out") < 0)
        goto done;
    if (same_length(&s, g.n, "s") < 0 || same_length(&out, g.n, "out") < 0)
        goto done;
    Py_BEGIN_ALLOW_THREADS
    adagrad_loop(g.n, g.data, s.data, out.data, eps);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    release(&g);
    release(&s);
    release(&out);
    return result;
}

/* -- gradient norms and the screen -------------------------------------------- */

/* Row i of d numbers: its norm into nrm[i]; returns 1 unless f, the norm and x are
 * finite, f <= f_cap and |x| <= x_cap (every comparison with nan is false), and sets
 * *some when the norm is below tol. Inlined into one loop per d, which vectorizes. */
#define SCREEN_ROWS(D)                                                                     \
    for (Py_ssize_t i = 0; i < n; i++) {                                                   \
        const double *gr = gp + i * (D), *xr = xp + i * (D);                               \
        double s = gr[0] * gr[0];                                                          \
        for (int k = 1; k < (D); k++)                                                      \
            s = s + gr[k] * gr[k];                                                         \
        double gn = sqrt(s), fi = fp[i];                                                   \
        nrm[i] = gn;                                                                       \
        int ok = (fabs(fi) <= DBL_MAX) & (fi <= f_cap) & (gn <= DBL_MAX);                  \
        for (int k = 0; k < (D); k++)                                                      \
            ok &= (fabs(xr[k]) <= x_cap) & (fabs(xr[k]) <= DBL_MAX);                        \
        bad |= !ok;                                                                        \
        some |= gn < tol;                                                                  \
    }

WIDE static int screen_loop(Py_ssize_t n, Py_ssize_t d, const double *gp, const double *fp,
                            const double *xp, double *nrm, double f_cap, double x_cap,
                            double tol, int *some_out) {
    int bad = 0, some = 0;
    switch (d) {
    case 1: SCREEN_ROWS(1) break;
    case 2: SCREEN_ROWS(2) break;
    case 3: SCREEN_ROWS(3) break;
    case 4: SCREEN_ROWS(4) break;
    case 5: SCREEN_ROWS(5) break;
    case 6: SCREEN_ROWS(6) break;
    default: SCREEN_ROWS(7) break;
    }
    *some_out = some;
    return !bad;
}

/*
 * norms_screen(g, f, x, norms, d, f_cap, x_cap, tol) -> (clean, some_below_tol)
 *
 * norms[i] = sqrt(g[i,0]^2 + g[i,1]^2 + ... + g[i,d-1]^2), summed from left to
 * right as numpy sums a row of fewer than 8 numbers (1 <= d < 8 only), for g and x
 * of N rows of d numbers and f of N. Then descend._screen's verdict: clean when no
 * entry of f, norms and x is inf or nan, max f <= f_cap and max |x| <= x_cap; and
 * whether some norm is below tol.
 */
static PyObject *norms_screen(PyObject *self, PyObject *args) {
    PyObject *og, *of, *ox, *onorms;
    Py_ssize_t d;
    double f_cap, x_cap, tol;
    if (!PyArg_ParseTuple(args, "OOOOnddd", &og, &of, &ox, &onorms, &d, &f_cap, &x_cap, &tol))
        return NULL;
    Doubles g = {0}, f = {0}, x = {0}, norms = {0};
    PyObject *result = NULL;
    if (doubles(og, &g, 0, "g") < 0 || doubles(of, &f, 0, "f") < 0 ||
        doubles(ox, &x, 0, "x") < 0 || doubles(onorms, &norms, 1, "norms") < 0)
        goto done;
    if (d < 1 || d >= 8) {
        PyErr_SetString(PyExc_ValueError, "d: from 1 to 7 numbers a row");
        goto done;
    }
    Py_ssize_t n = f.n;
    if (same_length(&g, n * d, "g") < 0 || same_length(&x, n * d, "x") < 0 ||
        same_length(&norms, n, "norms") < 0)
        goto done;
    int clean, some;
    Py_BEGIN_ALLOW_THREADS
    clean = screen_loop(n, d, g.data, f.data, x.data, norms.data, f_cap, x_cap, tol, &some);
    Py_END_ALLOW_THREADS
    clean = clean && n > 0;
    result = Py_BuildValue("(OO)", clean ? Py_True : Py_False, some ? Py_True : Py_False);
done:
    release(&g);
    release(&f);
    release(&x);
    release(&norms);
    return result;
}

/* -- replayed programs -------------------------------------------------------- */

enum { OP_COPY, OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_NEG, OP_SQRT, OP_COUNT };

/* elements done together: the scratch values of a block stay in the L1 cache */
#define BLOCK 256

/* operands are contiguous (stride 1) or one constant (stride 0) here */
#define LOOP(expr)                                                                         \
    do {                                                                                   \
        if (sa == 1 && sb == 1) {                                                          \
            _Pragma("GCC ivdep") for (Py_ssize_t j = 0; j < len; j++) {                    \
                double a = pa[j], b = pb[j];                                               \
                (void)b;                                                                   \
                po[j] = (expr);                                                            \
            }                                                                              \
        } else if (sa == 1) {                                                              \
            double b = pb[0];                                                              \
            (void)b;                                                                       \
            _Pragma("GCC ivdep") for (Py_ssize_t j = 0; j < len; j++) {                    \
                double a = pa[j];                                                          \
                po[j] = (expr);                                                            \
            }                                                                              \
        } else {                                                                           \
            double a = pa[0];                                                              \
            _Pragma("GCC ivdep") for (Py_ssize_t j = 0; j < len; j++) {                    \
                double b = pb[sb * j];                                                     \
                (void)b;                                                                   \
                po[j] = (expr);                                                            \
            }                                                                              \
        }                                                                                  \
    } while (0)

/* a block of a strided operand, gathered into buf; contiguous and constant as they are */
static inline const double *gather(const double *p, Py_ssize_t s, Py_ssize_t len,
                                   double *buf, Py_ssize_t *stride) {
    if (s == 0 || s == 1) {
        *stride = s;
        return p;
    }
    for (Py_ssize_t j = 0; j < len; j++)
        buf[j] = p[j * s];
    *stride = 1;
    return buf;
}

WIDE static void program_loop(Py_ssize_t n, Py_ssize_t k, Py_ssize_t slots, const int64_t *c,
                              const int64_t *ad, const int64_t *st, const int64_t *wd,
                              double *scratch, double *bufs, Py_ssize_t wmax, double **at,
                              Py_ssize_t *step) {
    double *abuf = bufs, *bbuf = bufs + BLOCK * wmax, *obuf = bufs + 2 * BLOCK * wmax;
    for (Py_ssize_t lo = 0; lo < n; lo += BLOCK) {
        Py_ssize_t rows = n - lo < BLOCK ? n - lo : BLOCK;
        double *free = scratch;
        for (Py_ssize_t s = 0; s < slots; s++) {
            if (ad[s] == 0) {
                at[s] = free;
                free += BLOCK * wd[s];
                step[s] = 1;
            } else {
                at[s] = (double *)(intptr_t)ad[s] + lo * wd[s] * st[s];
                step[s] = st[s];
            }
        }
        for (Py_ssize_t i = 0; i < k; i++) {
            const int64_t *ins = c + 4 * i;
            Py_ssize_t len = rows * wd[ins[1]], so = step[ins[1]], sa, sb;
            double *out = at[ins[1]];
            const double *pa = gather(at[ins[2]], step[ins[2]], len, abuf, &sa);
            const double *pb = gather(at[ins[3]], step[ins[3]], len, bbuf, &sb);
            double *po = so == 1 ? out : obuf;
            switch (ins[0]) {
            case OP_COPY:
                LOOP(a);
                break;
            case OP_ADD:
                LOOP(a + b);
                break;
            case OP_SUB:
                LOOP(a - b);
                break;
            case OP_MUL:
                LOOP(a * b);
                break;
            case OP_DIV:
                LOOP(a / b);
                break;
            case OP_NEG:
                LOOP(-a);
                break;
            case OP_SQRT:
                LOOP(sqrt(a));
                break;
            }
            if (so != 1)
                for (Py_ssize_t j = 0; j < len; j++)
                    out[j * so] = obuf[j];
        }
    }
}

/*
 * run_program(code, addresses, strides, widths, n)
 *
 * code: int64 (k, 4), rows of (operation, out, a, b) naming slots. Per slot (int64
 * each): the address of a float64 array's first element, the step between its
 * elements in elements (0: one constant for every element) and its width, the
 * elements of one row (they follow each other, row after row). An operation runs
 * over n rows of its out slot's width; an operand is as wide or a constant. A slot
 * of address 0 is scratch: a value that the program writes before it reads it and
 * nobody reads after, kept for one block at a time in memory of its own.
 *
 * The rows go BLOCK at a time: operation j on block b comes after operation j - 1
 * on block b and after operation j on block b - 1, which gives the numbers of
 * running each over all rows in turn when row i of every operation reads and writes
 * only row i of the others (the caller checks that). The caller keeps every array
 * alive.
 */
static PyObject *run_program(PyObject *self, PyObject *args) {
    PyObject *obj[4];
    Py_ssize_t n;
    if (!PyArg_ParseTuple(args, "OOOOn", &obj[0], &obj[1], &obj[2], &obj[3], &n))
        return NULL;
    Py_buffer view[4];
    int got = 0;
    PyObject *result = NULL;
    for (; got < 4; got++) {
        if (PyObject_GetBuffer(obj[got], &view[got], PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
            goto done;
        const char *f = view[got].format;
        if (view[got].itemsize != 8 || f == NULL || f[0] == '\0' ||
            strchr("qlQL", f[strlen(f) - 1]) == NULL) {
            PyBuffer_Release(&view[got]);
            PyErr_SetString(PyExc_TypeError, "run_program: int64 arrays are needed");
            goto done;
        }
    }
    Py_ssize_t k = view[0].len / 32, slots = view[1].len / 8;
    const int64_t *c = view[0].buf, *ad = view[1].buf, *st = view[2].buf, *wd = view[3].buf;
    if (view[0].len % 32 != 0 || view[2].len != view[1].len || view[3].len != view[1].len ||
        n < 0) {
        PyErr_SetString(PyExc_ValueError, "run_program: malformed program");
        goto done;
    }
    for (Py_ssize_t i = 0; i < 4 * k; i++) {
        int64_t x = c[i];
        if ((i % 4 == 0 && (x < 0 || x >= OP_COUNT)) || (i % 4 && (x < 0 || x >= slots))) {
            PyErr_SetString(PyExc_ValueError, "run_program: malformed program");
            goto done;
        }
    }
    Py_ssize_t wmax = 1, room = 0;
    for (Py_ssize_t s = 0; s < slots; s++) {
        if (wd[s] < 1 || wd[s] > 1 << 20) {
            PyErr_SetString(PyExc_ValueError, "run_program: malformed program");
            goto done;
        }
        wmax = wd[s] > wmax ? wd[s] : wmax;
        room += ad[s] == 0 ? BLOCK * wd[s] : 0;
    }
    double *scratch = PyMem_Malloc((size_t)(room + 3 * BLOCK * wmax) * sizeof(double));
    double **at = PyMem_Malloc((size_t)(slots ? slots : 1) * sizeof(double *));
    Py_ssize_t *step = PyMem_Malloc((size_t)(slots ? slots : 1) * sizeof(Py_ssize_t));
    if (scratch == NULL || at == NULL || step == NULL) {
        PyErr_NoMemory();
    } else {
        Py_BEGIN_ALLOW_THREADS
        program_loop(n, k, slots, c, ad, st, wd, scratch, scratch + room, wmax, at, step);
        Py_END_ALLOW_THREADS
        result = Py_NewRef(Py_None);
    }
    PyMem_Free(scratch);
    PyMem_Free(at);
    PyMem_Free(step);
done:
    for (int i = 0; i < got; i++)
        PyBuffer_Release(&view[i]);
    return result;
}

static PyMethodDef methods[] = {
    {"adam", adam, METH_VARARGS, "torch Adam's scaling of one float64 leaf, in place."},
    {"rms", rms, METH_VARARGS, "torch RMSprop's scaling of one float64 leaf, in place."},
    {"adagrad", adagrad, METH_VARARGS, "Adagrad's scaling of one float64 leaf, in place."},
    {"norms_screen", norms_screen, METH_VARARGS,
     "Gradient norms of short rows and the finite/runaway screen of a descent."},
    {"run_program", run_program, METH_VARARGS,
     "Run a replayed program of exact elementwise operations in blocks."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    .m_base = PyModuleDef_HEAD_INIT,
    .m_name = "_native",
    .m_doc = "Compiled loops for a descent's iterations, bit for bit numpy's numbers.",
    .m_size = 0,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
