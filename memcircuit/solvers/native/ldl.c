/* CHOLMOD LDL^T of symmetric positive-definite nodal matrices, with solves that visit only the
 * columns of L a right-hand side reaches and the rows a caller wants.
 *
 * Analysis: METIS nested dissection (CHOLMOD_NESDIS) and a postordering, once per sparsity
 * pattern; numeric factorisation: a copy of the symbolic factor, simplicial LDL^T (or supernodal
 * LL^T, optionally converted to simplicial LDL^T). CHOLMOD computes L D L^T = A(p, p).
 *
 * Solves work on k right-hand sides stored contiguously per unknown (row-major n x k), so the
 * inner loop is an axpy of length k and L is read once for all k. With b non-zero only at the rows
 * R (permuted), y = L^-1 b is non-zero only on reach(R), the ancestors of R in the elimination
 * tree (Gilbert, SIAM J. Matrix Anal. Appl. 15(1), 1994): the forward solve visits those columns,
 * in increasing order (a topological order of the tree). x on an ancestor-closed set S depends
 * only on y and x in S, so the backward solve for the wanted rows visits S only. Both are exact.
 *
 * Built by memcircuit.solvers.native (cc -O3 -march=native -ffp-contract=off -shared -fPIC ...
 * -lcholmod: the length-k loops vectorised, no fused multiply-add); called through ctypes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <suitesparse/cholmod.h>

typedef SuiteSparse_long Int;

void *mc_start(void)
{
    cholmod_common *c = malloc(sizeof(cholmod_common));
    if (c == NULL) return NULL;
    cholmod_l_start(c);
    c->nmethods = 1;
    c->method[0].ordering = CHOLMOD_NESDIS;
    c->postorder = 1;
    c->final_ll = 0;
    c->print = 0;
    c->error_handler = NULL;
    return c;
}

void mc_finish(void *common)
{
    cholmod_l_finish((cholmod_common *) common);
    free(common);
}

static cholmod_sparse wrap(Int n, Int *ap, Int *ai, double *ax)
{
    cholmod_sparse a;
    memset(&a, 0, sizeof(a));
    a.nrow = a.ncol = (size_t) n;
    a.nzmax = (size_t) ap[n];
    a.p = ap;
    a.i = ai;
    a.x = ax;
    a.stype = -1; /* symmetric, lower triangle used */
    a.itype = CHOLMOD_LONG;
    a.xtype = ax ? CHOLMOD_REAL : CHOLMOD_PATTERN;
    a.dtype = CHOLMOD_DOUBLE;
    a.sorted = 1;
    a.packed = 1;
    return a;
}

/* Symbolic factor of the pattern (ap, ai) (full symmetric CSC, sorted); NULL on failure. */
void *mc_analyze(void *common, Int n, Int *ap, Int *ai, int supernodal)
{
    cholmod_common *c = common;
    cholmod_sparse a = wrap(n, ap, ai, NULL);
    c->supernodal = supernodal ? CHOLMOD_SUPERNODAL : CHOLMOD_SIMPLICIAL;
    return cholmod_l_analyze(&a, c);
}

/* Numeric factor of A = (ap, ai, ax) on a copy of the symbolic factor ``sym``. Returns 0 and the
 * factor in *out, 1 when A is not positive definite, -1 on any other failure. ``convert``: turn a
 * supernodal factor into a simplicial LDL^T. */
int mc_factorize(void *common, void *sym, Int n, Int *ap, Int *ai, double *ax, int convert, void **out)
{
    cholmod_common *c = common;
    cholmod_sparse a = wrap(n, ap, ai, ax);
    cholmod_factor *f = cholmod_l_copy_factor((cholmod_factor *) sym, c);
    *out = NULL;
    if (f == NULL) return -1;
    c->quick_return_if_not_posdef = 1;
    if (!cholmod_l_factorize(&a, f, c) || c->status < 0) {
        cholmod_l_free_factor(&f, c);
        return -1;
    }
    if (c->status == CHOLMOD_NOT_POSDEF || f->minor < f->n) {
        cholmod_l_free_factor(&f, c);
        return 1;
    }
    if (convert && f->is_super && !cholmod_l_change_factor(CHOLMOD_REAL, 0, 0, 1, 1, f, c)) {
        cholmod_l_free_factor(&f, c);
        return -1;
    }
    *out = f;
    return 0;
}

void mc_free_factor(void *common, void *factor)
{
    cholmod_factor *f = factor;
    cholmod_l_free_factor(&f, (cholmod_common *) common);
}

/* Pointers into a factor: perm (n), and for a simplicial LDL^T p (n+1), i, x, nz (n); returns
 * 1 for a simplicial LDL^T, 0 otherwise (then only perm is set). */
int mc_factor_arrays(void *factor, Int **perm, Int **p, Int **i, double **x, Int **nz)
{
    cholmod_factor *f = factor;
    *perm = f->Perm;
    if (f->is_super || f->is_ll || f->xtype != CHOLMOD_REAL) return 0;
    *p = f->p;
    *i = f->i;
    *x = f->x;
    *nz = f->nz;
    return 1;
}

/* CHOLMOD's own solve of A x = b, b and x column-major n x k (supernodal factors). */
int mc_solve_full(void *common, void *factor, Int n, Int k, double *b, double *x)
{
    cholmod_common *c = common;
    cholmod_dense bd;
    memset(&bd, 0, sizeof(bd));
    bd.nrow = (size_t) n;
    bd.ncol = (size_t) k;
    bd.d = (size_t) n;
    bd.nzmax = (size_t) (n * k);
    bd.x = b;
    bd.xtype = CHOLMOD_REAL;
    bd.dtype = CHOLMOD_DOUBLE;
    cholmod_dense *xd = cholmod_l_solve(CHOLMOD_A, (cholmod_factor *) factor, &bd, c);
    if (xd == NULL) return -1;
    memcpy(x, xd->x, sizeof(double) * (size_t) (n * k));
    cholmod_l_free_dense(&xd, c);
    return 0;
}

/* Elimination-tree parent of every column of a simplicial factor: its least row below the
 * diagonal, -1 for a root. */
void mc_etree(Int n, const Int *p, const Int *i, const Int *nz, Int *parent)
{
    for (Int j = 0; j < n; j++) {
        Int best = -1;
        for (Int q = p[j] + 1; q < p[j] + nz[j]; q++)
            if (best < 0 || i[q] < best) best = i[q];
        parent[j] = best;
    }
}

/* Marks (mark[j] = 1) every ancestor of the ``count`` start columns, themselves included. */
void mc_reach(const Int *parent, Int count, const Int *start, uint8_t *mark)
{
    for (Int s = 0; s < count; s++)
        for (Int j = start[s]; j >= 0 && !mark[j]; j = parent[j]) mark[j] = 1;
}

/* y <- D^-1 L^-1 y over the columns ``cols`` (increasing; NULL: the columns 0 .. count-1), y
 * row-major (n x k). */
void mc_forward(const Int *p, const Int *i, const double *x, const Int *nz, Int count, const Int *cols,
                Int k, double *y)
{
    for (Int c = 0; c < count; c++) {
        Int j = cols ? cols[c] : c;
        const double *yj = y + j * k;
        for (Int q = p[j] + 1; q < p[j] + nz[j]; q++) {
            double l = x[q];
            double *yi = y + i[q] * k;
            for (Int r = 0; r < k; r++) yi[r] -= l * yj[r];
        }
        double d = 1.0 / x[p[j]];
        double *yw = y + j * k;
        for (Int r = 0; r < k; r++) yw[r] *= d;
    }
}

/* y <- L^-T y over the columns ``cols`` (increasing, visited in decreasing order; NULL: the
 * columns 0 .. count-1), which must hold the ancestors of each of them. */
void mc_backward(const Int *p, const Int *i, const double *x, const Int *nz, Int count, const Int *cols,
                 Int k, double *y)
{
    for (Int c = count - 1; c >= 0; c--) {
        Int j = cols ? cols[c] : c;
        double *yj = y + j * k;
        for (Int q = p[j] + 1; q < p[j] + nz[j]; q++) {
            double l = x[q];
            const double *yi = y + i[q] * k;
            for (Int r = 0; r < k; r++) yj[r] -= l * yi[r];
        }
    }
}

/* Row blocks of the (un)permutations below: a block's rows of the row-major side stay in cache
 * while each of the k columns of the column-major side is walked in order (k long strided
 * streams at once would miss the TLB at every element). */
#define BLOCK 64

/* y (row-major n x k) <- b (column-major n x k) in the factor's order: y[inverse[q]] = b[q]. */
void mc_permute(Int n, Int k, const Int *inverse, const double *b, double *y)
{
    for (Int q0 = 0; q0 < n; q0 += BLOCK) {
        Int q1 = q0 + BLOCK < n ? q0 + BLOCK : n;
        for (Int r = 0; r < k; r++)
            for (Int q = q0; q < q1; q++) y[inverse[q] * k + r] = b[r * n + q];
    }
}

/* x (column-major n x k) <- y (row-major n x k) back in the matrix's order: x[q] = y[inverse[q]]. */
void mc_unpermute(Int n, Int k, const Int *inverse, const double *y, double *x)
{
    for (Int q0 = 0; q0 < n; q0 += BLOCK) {
        Int q1 = q0 + BLOCK < n ? q0 + BLOCK : n;
        for (Int r = 0; r < k; r++)
            for (Int q = q0; q < q1; q++) x[r * n + q] = y[inverse[q] * k + r];
    }
}
