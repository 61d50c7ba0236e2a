// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Prometheus text exposition (format 0.0.4), written for node_exporter's
 * textfile collector.  The per-label-set counters come from the one list
 * in counters.h; the few series that are not per-process counters are in
 * the tables below.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include "htab.h"
#include "prom.h"

#define PREFIX		"fdtrace_"

struct labelset {
	char *unit;		/* label values, escaped for the exposition */
	char *comm;
	struct labelset *next;	/* hash chain */
	size_t idx;		/* in prom.ls */
	/* counters of the processes that are gone: kept, never lowered */
	struct proc_stats gone;
};

/* Per live process, keyed by pid (htab.h: key and used first) */
struct pent {
	__u32 key;
	__u8 used;
	__u32 ls;		/* index into prom.ls */
	struct proc_stats st;
	__u64 open_fds;
	__u64 fd_limit;
	double exhaustion_s;
};

struct prom {
	char *path;
	char *dir;		/* path's directory, for the temp file and fsync */
	char *base;		/* path's last component */
	__u32 sample;
	struct labelset **ls;	/* every label set seen, never freed before prom__free() */
	size_t nr_ls, cap_ls;
	struct labelset **buckets;
	size_t nr_buckets;	/* a power of two */
	struct htab procs;	/* struct pent */
};

/*
 * Series per label set besides the counters.h rows.  Sums over the live
 * processes, except the ratio (the highest) and the time to exhaustion
 * (the shortest): the worst process is what an alert is about.
 */
enum ls_gauge { G_OPEN_FDS, G_FD_LIMIT, G_USAGE_RATIO, G_EXHAUSTION, NR_LS_GAUGES };

static const struct {
	const char *name, *help;
} ls_gauges[NR_LS_GAUGES] = {
	[G_OPEN_FDS] = { "open_fds", "open fds of the live traced processes, summed" },
	[G_FD_LIMIT] = { "fd_limit",
			 "soft RLIMIT_NOFILE of the live traced processes whose limit is known, summed" },
	[G_USAGE_RATIO] = { "fd_usage_ratio",
			    "highest open fds / soft fd limit among the live processes" },
	[G_EXHAUSTION] = { "fd_exhaustion_seconds",
			   "shortest projected time until a live process reaches its fd limit at its leak rate; +Inf: none is leaking" },
};

/* One series each, no labels */
enum g_metric { M_LOST, M_MAP_FULL, M_PROCS, M_SAMPLE, NR_GLOBAL };

static const struct {
	const char *name, *type, *help;
} globals[NR_GLOBAL] = {
	[M_LOST] = { "lost_events_total", "counter",
		     "records the kernel could not deliver (ring buffer full), all processes" },
	[M_MAP_FULL] = { "map_full_drops_total", "counter",
			 "watched fds the kernel could not track (--max-fds map full), all processes" },
	[M_PROCS] = { "processes_traced", "gauge", "processes traced now" },
	[M_SAMPLE] = { "sample_ratio", "gauge",
		       "fraction of epoll watches tracked (1/N of --sample N): counts are of the tracked ones" },
};

/* ---- label sets ---- */

static __u64 fnv1a(__u64 h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return (h ^ 0xff) * 0x100000001b3ULL;	/* separates "ab","c" from "a","bc" */
}

static size_t ls_bucket(const struct prom *p, const char *unit, const char *comm)
{
	return fnv1a(fnv1a(0xcbf29ce484222325ULL, unit), comm) & (p->nr_buckets - 1);
}

/*
 * A label value as the exposition needs it: backslash, double quote and
 * newline escaped, and valid UTF-8 (node_exporter refuses the whole file
 * otherwise; a comm can hold any byte): each byte that does not begin a
 * valid sequence becomes U+FFFD.
 */
static char *escape_label(const char *s)
{
	size_t n = strlen(s), o = 0;
	char *out = malloc(3 * n + 1);	/* U+FFFD: 3 bytes for 1 */
	const unsigned char *u = (const unsigned char *)s;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t len = 0;
		unsigned char c = u[i];

		if (c == '\\' || c == '"' || c == '\n') {
			out[o++] = '\\';
			out[o++] = c == '\n' ? 'n' : c;
			i++;
			continue;
		}
		if (c < 0x80)
			len = 1;
		else if (c >= 0xc2 && c <= 0xdf)
			len = 2;
		else if (c >= 0xe0 && c <= 0xef)
			len = 3;
		else if (c >= 0xf0 && c <= 0xf4)
			len = 4;
		for (size_t k = 1; k < len; k++) {
			if (i + k >= n || (u[i + k] & 0xc0) != 0x80) {
				len = 0;
				break;
			}
		}
		/* overlong 3- and 4-byte forms, surrogates, beyond U+10FFFF */
		if (len == 3 && ((c == 0xe0 && u[i + 1] < 0xa0) || (c == 0xed && u[i + 1] >= 0xa0)))
			len = 0;
		if (len == 4 && ((c == 0xf0 && u[i + 1] < 0x90) || (c == 0xf4 && u[i + 1] >= 0x90)))
			len = 0;
		if (!len) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
			continue;
		}
		memcpy(out + o, u + i, len);
		o += len;
		i += len;
	}
	out[o] = '\0';
	return out;
}

static int ls_grow(struct prom *p)
{
	size_t nb = p->nr_buckets ? 2 * p->nr_buckets : 64;
	struct labelset **b = calloc(nb, sizeof(*b));

	if (!b)
		return -ENOMEM;
	free(p->buckets);
	p->buckets = b;
	p->nr_buckets = nb;
	for (size_t i = 0; i < p->nr_ls; i++) {
		struct labelset *l = p->ls[i];
		size_t h = ls_bucket(p, l->unit, l->comm);

		l->next = b[h];
		b[h] = l;
	}
	return 0;
}

/* Index of the label set (unit, comm), added if new; negative errno */
static long ls_get(struct prom *p, const char *unit, const char *comm)
{
	char *eu = escape_label(unit ? unit : ""), *ec = escape_label(comm ? comm : "");
	struct labelset *l = NULL;
	long idx = -ENOMEM;

	if (!eu || !ec)
		goto out;
	for (l = p->buckets[ls_bucket(p, eu, ec)]; l; l = l->next) {
		if (!strcmp(l->unit, eu) && !strcmp(l->comm, ec))
			break;
	}
	if (l) {
		idx = l->idx;
		goto out;
	}
	if (p->nr_ls == p->cap_ls) {
		size_t cap = p->cap_ls ? 2 * p->cap_ls : 16;
		struct labelset **ls = realloc(p->ls, cap * sizeof(*ls));

		if (!ls)
			goto out;
		p->ls = ls;
		p->cap_ls = cap;
	}
	if (p->nr_ls >= 2 * p->nr_buckets && ls_grow(p))
		goto out;
	l = calloc(1, sizeof(*l));
	if (!l)
		goto out;
	l->unit = eu;
	l->comm = ec;
	eu = ec = NULL;
	l->next = p->buckets[ls_bucket(p, l->unit, l->comm)];
	p->buckets[ls_bucket(p, l->unit, l->comm)] = l;
	idx = l->idx = p->nr_ls;
	p->ls[p->nr_ls++] = l;
out:
	free(eu);
	free(ec);
	return idx;
}

/* ---- processes ---- */

static void add_counters(struct proc_stats *to, const struct proc_stats *from)
{
#define X(name, kind, text, help) if (kind == CNT_COUNTER) to->name += from->name;
	FDT_PROC_COUNTERS(X)
#undef X
}

/* Any counter of b lower than a's: not the same process's later counts */
static bool counters_went_down(const struct proc_stats *a, const struct proc_stats *b)
{
#define X(name, kind, text, help) if (kind == CNT_COUNTER && b->name < a->name) return true;
	FDT_PROC_COUNTERS(X)
#undef X
	return false;
}

/* The process of slot is gone: its counts stay in its label set */
static void retire(struct prom *p, __u32 slot)
{
	struct pent *e = htab__at(&p->procs, slot);

	add_counters(&p->ls[e->ls]->gone, &e->st);
	htab__remove(&p->procs, slot);
}

struct prom *prom__new(const char *path, __u32 sample)
{
	struct prom *p;
	const char *slash;
	struct stat st;
	int err;

	if (!path || !*path || path[strlen(path) - 1] == '/') {
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	slash = strrchr(path, '/');
	p->path = strdup(path);
	p->dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
	p->base = strdup(slash ? slash + 1 : path);
	p->sample = sample ? sample : 1;
	htab__init(&p->procs, sizeof(struct pent), 6, NULL, NULL);
	if (!p->path || !p->dir || !p->base || ls_grow(p)) {
		err = ENOMEM;
		goto fail;
	}
	/* Say now, not at the first interval, that the directory is wrong. */
	if (stat(p->dir, &st)) {
		err = errno;
		goto fail;
	}
	if (!S_ISDIR(st.st_mode)) {
		err = ENOTDIR;
		goto fail;
	}
	return p;
fail:
	prom__free(p);
	errno = err;
	return NULL;
}

int prom__proc(struct prom *p, const struct prom_proc *pp)
{
	struct pent *e;
	__u32 slot;
	long ls;

	if (!pp->st)
		return -EINVAL;
	ls = ls_get(p, pp->unit, pp->comm);
	if (ls < 0)
		return ls;
	slot = htab__find(&p->procs, pp->pid);
	if (slot != HTAB_NONE) {
		e = htab__at(&p->procs, slot);
		/* pid reused by a process whose exit we were not told of */
		if (e->ls != (__u32)ls || counters_went_down(&e->st, pp->st)) {
			retire(p, slot);
			slot = HTAB_NONE;
		}
	}
	if (pp->exited) {
		if (slot != HTAB_NONE)
			htab__remove(&p->procs, slot);
		add_counters(&p->ls[ls]->gone, pp->st);
		return 0;
	}
	if (slot == HTAB_NONE) {
		slot = htab__insert(&p->procs, pp->pid);
		if (slot == HTAB_NONE)
			return -ENOMEM;
	}
	e = htab__at(&p->procs, slot);
	e->ls = ls;
	e->st = *pp->st;
	e->open_fds = pp->open_fds;
	e->fd_limit = pp->fd_limit;
	e->exhaustion_s = pp->fd_limit_in_s;
	return 0;
}

/* ---- the exposition ---- */

/* What a label set shows now */
struct ls_view {
	const struct labelset *l;
	struct proc_stats sum;	/* counters: gone + live; gauges: live */
	__u64 nr_live;
	__u64 open_fds, fd_limit;
	bool have_limit;
	double ratio;		/* < 0: none known */
	double exhaustion;	/* +Inf: none leaking */
};

static int view_cmp(const void *a, const void *b)
{
	const struct ls_view *x = a, *y = b;
	int c = strcmp(x->l->unit, y->l->unit);

	return c ? c : strcmp(x->l->comm, y->l->comm);
}

static struct ls_view *build_views(const struct prom *p)
{
	struct ls_view *v = calloc(p->nr_ls ? p->nr_ls : 1, sizeof(*v));

	if (!v)
		return NULL;
	for (size_t i = 0; i < p->nr_ls; i++) {
		v[i].l = p->ls[i];
		v[i].sum = p->ls[i]->gone;
		v[i].ratio = -1;
		v[i].exhaustion = INFINITY;
	}
	for (__u32 s = 0; s < htab__cap(&p->procs); s++) {
		const struct pent *e;
		struct ls_view *w;

		if (!htab__used(&p->procs, s))
			continue;
		e = htab__at(&p->procs, s);
		w = &v[e->ls];
		w->nr_live++;
#define X(name, kind, text, help) w->sum.name += e->st.name;
		FDT_PROC_COUNTERS(X)
#undef X
		w->open_fds += e->open_fds;
		if (e->fd_limit) {
			double r = (double)e->open_fds / (double)e->fd_limit;

			w->have_limit = true;
			w->fd_limit += e->fd_limit;
			if (r > w->ratio)
				w->ratio = r;
		}
		if (e->exhaustion_s >= 0 && e->exhaustion_s < w->exhaustion)
			w->exhaustion = e->exhaustion_s;
	}
	qsort(v, p->nr_ls, sizeof(*v), view_cmp);
	return v;
}

static void put_help(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP " PREFIX "%s ", name);
	/* HELP escapes backslash and newline only */
	for (const char *c = help; *c; c++) {
		if (*c == '\\')
			fputs("\\\\", f);
		else if (*c == '\n')
			fputs("\\n", f);
		else
			fputc(*c, f);
	}
	fprintf(f, "\n# TYPE " PREFIX "%s %s\n", name, type);
}

static void put_labels(FILE *f, const char *name, const struct ls_view *v)
{
	fprintf(f, PREFIX "%s{unit=\"%s\",comm=\"%s\"} ", name, v->l->unit, v->l->comm);
}

static void put_double(FILE *f, double d)
{
	if (isinf(d))
		fputs(d > 0 ? "+Inf\n" : "-Inf\n", f);
	else
		fprintf(f, "%.9g\n", d);
}

static void put_ls_gauge(FILE *f, enum ls_gauge g, const struct ls_view *v)
{
	if (!v->nr_live)
		return;	/* nothing measured: no series */
	switch (g) {
	case G_OPEN_FDS:
		put_labels(f, ls_gauges[g].name, v);
		fprintf(f, "%llu\n", (unsigned long long)v->open_fds);
		break;
	case G_FD_LIMIT:
		if (!v->have_limit)
			return;
		put_labels(f, ls_gauges[g].name, v);
		fprintf(f, "%llu\n", (unsigned long long)v->fd_limit);
		break;
	case G_USAGE_RATIO:
		if (v->ratio < 0)
			return;
		put_labels(f, ls_gauges[g].name, v);
		put_double(f, v->ratio);
		break;
	case G_EXHAUSTION:
		put_labels(f, ls_gauges[g].name, v);
		put_double(f, v->exhaustion);
		break;
	default:
		break;
	}
}

static void put_global(FILE *f, enum g_metric m, const struct prom_global *g, __u32 sample)
{
	put_help(f, globals[m].name, globals[m].type, globals[m].help);
	fputs(PREFIX, f);
	fputs(globals[m].name, f);
	fputc(' ', f);
	switch (m) {
	case M_LOST:
		fprintf(f, "%llu\n", (unsigned long long)g->lost_events);
		break;
	case M_MAP_FULL:
		fprintf(f, "%llu\n", (unsigned long long)g->untracked);
		break;
	case M_PROCS:
		fprintf(f, "%llu\n", (unsigned long long)g->processes_traced);
		break;
	case M_SAMPLE:
		put_double(f, 1.0 / sample);
		break;
	default:
		break;
	}
}

/* The exposition into f; 0 or -ENOMEM */
static int emit(struct prom *p, const struct prom_global *g, FILE *f)
{
	struct ls_view *v = build_views(p);
	__u32 sample = g->sample ? g->sample : p->sample;

	if (!v)
		return -ENOMEM;
	/*
	 * Every family has its HELP and TYPE even with no series yet:
	 * promtool and node_exporter accept that, and the file says what
	 * it can hold from the first interval.
	 */
#define X(name, kind, text, help)						\
	put_help(f, kind == CNT_COUNTER ? #name "_total" : #name,		\
		 kind == CNT_COUNTER ? "counter" : "gauge", help);		\
	for (size_t i = 0; i < p->nr_ls; i++) {					\
		put_labels(f, kind == CNT_COUNTER ? #name "_total" : #name, &v[i]); \
		fprintf(f, "%llu\n", (unsigned long long)v[i].sum.name);	\
	}
	FDT_PROC_COUNTERS(X)
#undef X
	for (int k = 0; k < NR_LS_GAUGES; k++) {
		put_help(f, ls_gauges[k].name, "gauge", ls_gauges[k].help);
		for (size_t i = 0; i < p->nr_ls; i++)
			put_ls_gauge(f, k, &v[i]);
	}
	for (int m = 0; m < NR_GLOBAL; m++)
		put_global(f, m, g, sample);
	free(v);
	return 0;
}

char *prom__text(struct prom *p, const struct prom_global *g)
{
	char *text = NULL;
	size_t len;
	FILE *f = open_memstream(&text, &len);
	int err;

	if (!f)
		return NULL;
	err = emit(p, g, f);
	if (fclose(f) || err) {
		free(text);
		return NULL;
	}
	return text;
}

/*
 * A temp file of our own beside the target: O_EXCL|O_NOFOLLOW, so that
 * nothing already there (a file, a symlink planted in a shared
 * directory) is written through.  The name starts with a dot and does
 * not end in .prom: node_exporter reads *.prom only, and a temp file a
 * crash leaves behind is never read as metrics.
 */
static int open_temp(const struct prom *p, char *tmp, size_t len)
{
	for (int tries = 0; tries < 16; tries++) {
		unsigned int r;
		int fd;

		if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
			r = (unsigned int)getpid() * 2654435761u + tries;
		if ((size_t)snprintf(tmp, len, "%s/.%s.%08x.tmp", p->dir, p->base, r) >= len)
			return -ENAMETOOLONG;
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd >= 0) {
			/* 0644 whatever the umask: node_exporter runs as another user */
			if (fchmod(fd, 0644)) {
				int err = -errno;

				close(fd);
				unlink(tmp);
				return err;
			}
			return fd;
		}
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

int prom__write(struct prom *p, const struct prom_global *g)
{
	char tmp[PATH_MAX];
	int fd, dfd, err;
	FILE *f;

	fd = open_temp(p, tmp, sizeof(tmp));
	if (fd < 0)
		return fd;
	f = fdopen(fd, "w");
	if (!f) {
		err = -errno;
		close(fd);
		goto out;
	}
	err = emit(p, g, f);
	errno = 0;
	/* the data on disk before the name: a crash leaves old or new, not empty */
	if (!err && (fflush(f) || ferror(f) || fsync(fd)))
		err = -(errno ? errno : EIO);
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, p->path))
		err = -errno;
out:
	if (err) {
		unlink(tmp);
		return err;
	}
	dfd = open(p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);	/* best effort: the rename itself */
		close(dfd);
	}
	return 0;
}

size_t prom__nr_labelsets(const struct prom *p)
{
	return p->nr_ls;
}

size_t prom__nr_procs(const struct prom *p)
{
	return p->procs.nr;
}

void prom__free(struct prom *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nr_ls; i++) {
		free(p->ls[i]->unit);
		free(p->ls[i]->comm);
		free(p->ls[i]);
	}
	free(p->ls);
	free(p->buckets);
	htab__free(&p->procs);
	free(p->path);
	free(p->dir);
	free(p->base);
	free(p);
}
