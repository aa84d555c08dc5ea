/* SPDX-License-Identifier: MIT */
/*
 * AVL tree on an embedded node header, shared by the window tree (keyed by
 * iova) and the file mapping tree (keyed by st_dev, st_ino).  Nodes move
 * (never their contents) on deletion, because callers hold pointers to
 * windows through struct dmat_ref.
 */
#include <stddef.h>

#include "dma/priv.h"

static inline int avl_h(const struct avl *n)
{
	return n ? n->h : 0;
}

static inline void avl_fix(struct avl *n)
{
	int l = avl_h(n->l), r = avl_h(n->r);

	n->h = (int8_t)(1 + (l > r ? l : r));
}

static struct avl *avl_rot_right(struct avl *y)
{
	struct avl *x = y->l;

	y->l = x->r;
	x->r = y;
	avl_fix(y);
	avl_fix(x);
	return x;
}

static struct avl *avl_rot_left(struct avl *x)
{
	struct avl *y = x->r;

	x->r = y->l;
	y->l = x;
	avl_fix(x);
	avl_fix(y);
	return y;
}

/* Restore the AVL invariant at n after one of its subtrees changed by 1. */
static struct avl *avl_balance(struct avl *n)
{
	int bf = avl_h(n->l) - avl_h(n->r);

	if (bf > 1) {
		if (avl_h(n->l->l) < avl_h(n->l->r))
			n->l = avl_rot_left(n->l);
		return avl_rot_right(n);
	}
	if (bf < -1) {
		if (avl_h(n->r->r) < avl_h(n->r->l))
			n->r = avl_rot_right(n->r);
		return avl_rot_left(n);
	}
	avl_fix(n);
	return n;
}

struct avl *dmat_avl_insert(struct avl *root, struct avl *n, avl_cmp_fn cmp)
{
	if (!root) {
		n->l = n->r = NULL;
		n->h = 1;
		return n;
	}
	if (cmp(n, root) < 0)
		root->l = dmat_avl_insert(root->l, n, cmp);
	else
		root->r = dmat_avl_insert(root->r, n, cmp);
	return avl_balance(root);
}

static struct avl *avl_remove_min(struct avl *n, struct avl **min)
{
	if (!n->l) {
		*min = n;
		return n->r;
	}
	n->l = avl_remove_min(n->l, min);
	return avl_balance(n);
}

struct avl *dmat_avl_remove(struct avl *root, struct avl *n, avl_cmp_fn cmp)
{
	if (!root)
		return NULL;
	if (root == n) {
		struct avl *m, *r;

		if (!n->r)
			return n->l;
		r = avl_remove_min(n->r, &m);
		m->l = n->l;
		m->r = r;
		return avl_balance(m);
	}
	if (cmp(n, root) < 0)
		root->l = dmat_avl_remove(root->l, n, cmp);
	else
		root->r = dmat_avl_remove(root->r, n, cmp);
	return avl_balance(root);
}

uint32_t dmat_avl_count(const struct avl *n)
{
	return n ? 1 + dmat_avl_count(n->l) + dmat_avl_count(n->r) : 0;
}
