// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "json_writer.h"

/* Nesting deeper than this is still written, just without commas tracked. */
#define JSONW_MAX_DEPTH	64

struct json_writer {
	FILE *f;
	unsigned int depth;
	bool after_name;	/* a name was written: the value needs no comma */
	__u64 has_elems;	/* bit d: container at depth d has an element */
	int err;		/* errno of the first failed flush, or 0 */
};

struct json_writer *jsonw_new(FILE *f)
{
	struct json_writer *w;

	if (!f) {
		errno = EINVAL;
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->f = f;
	return w;
}

void jsonw_free(struct json_writer *w)
{
	free(w);
}

static __u64 depth_bit(unsigned int depth)
{
	return depth < JSONW_MAX_DEPTH ? 1ULL << depth : 0;
}

/* Comma before an element of the current container, unless it is the first. */
static void elem_sep(struct json_writer *w)
{
	if (w->after_name) {
		w->after_name = false;
		return;
	}
	if (!w->depth)
		return;
	if (w->has_elems & depth_bit(w->depth))
		fputc(',', w->f);
	w->has_elems |= depth_bit(w->depth);
}

/* A complete top-level value ends a line: flush so a tail sees it whole. */
static void value_done(struct json_writer *w)
{
	if (w->depth)
		return;
	fputc('\n', w->f);
	/* ferror(): a write inside fputc()/fprintf() may have failed first */
	errno = 0;
	if ((fflush(w->f) || ferror(w->f)) && !w->err)
		w->err = errno ? errno : EIO;
}

int jsonw_error(const struct json_writer *w)
{
	return w ? w->err : 0;
}

/*
 * Length of the well-formed UTF-8 sequence at s (at most n bytes), or 0.
 * Overlong forms, surrogates and code points past U+10FFFF are not
 * well-formed (RFC 3629).
 */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	__u32 cp, min;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
		min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
		min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static void write_quoted(struct json_writer *w, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, len;

	fputc('"', w->f);
	while (i < n && s[i]) {
		if (s[i] == '"' || s[i] == '\\') {
			fputc('\\', w->f);
			fputc(s[i], w->f);
			i++;
		} else if (s[i] < 0x20 || s[i] == 0x7f) {
			fprintf(w->f, "\\u%04x", s[i]);
			i++;
		} else if ((len = utf8_len(s + i, n - i)) > 0) {
			fwrite(s + i, 1, len, w->f);
			i += len;
		} else {
			/* not UTF-8: keep the byte's value, as its Latin-1 char */
			fprintf(w->f, "\\u%04x", s[i]);
			i++;
		}
	}
	fputc('"', w->f);
}

void jsonw_start_object(struct json_writer *w)
{
	elem_sep(w);
	fputc('{', w->f);
	w->depth++;
	w->has_elems &= ~depth_bit(w->depth);
}

void jsonw_end_object(struct json_writer *w)
{
	if (w->depth)
		w->depth--;
	fputc('}', w->f);
	value_done(w);
}

void jsonw_start_array(struct json_writer *w)
{
	elem_sep(w);
	fputc('[', w->f);
	w->depth++;
	w->has_elems &= ~depth_bit(w->depth);
}

void jsonw_end_array(struct json_writer *w)
{
	if (w->depth)
		w->depth--;
	fputc(']', w->f);
	value_done(w);
}

void jsonw_name(struct json_writer *w, const char *name)
{
	elem_sep(w);
	write_quoted(w, name, strlen(name));
	fputc(':', w->f);
	w->after_name = true;
}

void jsonw_string_n(struct json_writer *w, const char *s, size_t len)
{
	elem_sep(w);
	if (s)
		write_quoted(w, s, len);
	else
		fputs("null", w->f);
	value_done(w);
}

void jsonw_string(struct json_writer *w, const char *s)
{
	jsonw_string_n(w, s, s ? strlen(s) : 0);
}

void jsonw_uint(struct json_writer *w, __u64 v)
{
	elem_sep(w);
	fprintf(w->f, "%llu", (unsigned long long)v);
	value_done(w);
}

void jsonw_int(struct json_writer *w, __s64 v)
{
	elem_sep(w);
	fprintf(w->f, "%lld", (long long)v);
	value_done(w);
}

/*
 * Fixed point by integer arithmetic: printf's %f would follow
 * LC_NUMERIC and write "5,002" under some locales.
 */
void jsonw_float_prec(struct json_writer *w, double v, int prec)
{
	static const __u64 pow10[] = {
		1, 10, 100, 1000, 10000, 100000, 1000000, 10000000,
		100000000, 1000000000,
	};
	double x, mag;
	__u64 scale, q;

	if (prec < 0)
		prec = 0;
	if (prec > 9)
		prec = 9;
	elem_sep(w);
	/* NaN and infinities have no JSON spelling */
	if (v != v || v - v != 0) {
		fputs("null", w->f);
		value_done(w);
		return;
	}
	scale = pow10[prec];
	x = v * (double)scale;
	mag = x < 0 ? -x : x;
	if (mag < 9e15) {
		q = (__u64)(mag + 0.5);
		fprintf(w->f, "%s%llu", x < 0 && q ? "-" : "",
			(unsigned long long)(q / scale));
		if (prec)
			fprintf(w->f, ".%0*llu", prec,
				(unsigned long long)(q % scale));
	} else {
		/* beyond 2^53 the decimals are noise anyway */
		fprintf(w->f, "%.0f", v);
		if (prec)
			fprintf(w->f, ".%0*d", prec, 0);
	}
	value_done(w);
}

void jsonw_float(struct json_writer *w, double v)
{
	jsonw_float_prec(w, v, 3);
}

void jsonw_bool(struct json_writer *w, bool v)
{
	elem_sep(w);
	fputs(v ? "true" : "false", w->f);
	value_done(w);
}

void jsonw_null(struct json_writer *w)
{
	elem_sep(w);
	fputs("null", w->f);
	value_done(w);
}

void jsonw_string_field(struct json_writer *w, const char *name, const char *s)
{
	jsonw_name(w, name);
	jsonw_string(w, s);
}

void jsonw_string_n_field(struct json_writer *w, const char *name,
			  const char *s, size_t len)
{
	jsonw_name(w, name);
	jsonw_string_n(w, s, len);
}

void jsonw_uint_field(struct json_writer *w, const char *name, __u64 v)
{
	jsonw_name(w, name);
	jsonw_uint(w, v);
}

void jsonw_int_field(struct json_writer *w, const char *name, __s64 v)
{
	jsonw_name(w, name);
	jsonw_int(w, v);
}

void jsonw_float_field(struct json_writer *w, const char *name, double v)
{
	jsonw_name(w, name);
	jsonw_float(w, v);
}

void jsonw_bool_field(struct json_writer *w, const char *name, bool v)
{
	jsonw_name(w, name);
	jsonw_bool(w, v);
}

void jsonw_null_field(struct json_writer *w, const char *name)
{
	jsonw_name(w, name);
	jsonw_null(w);
}
