/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * A small streaming JSON writer, API in the spirit of bpftool's
 * json_writer.h.  Output is compact and one top-level value per line
 * (JSON Lines): closing the outermost object or array writes "\n" and
 * flushes, so a reader tailing the stream sees whole records.
 *
 * Strings are always valid UTF-8 JSON whatever bytes they are given:
 * '"', '\\' and control characters are escaped, and every byte that is
 * not part of a well-formed UTF-8 sequence is written as \u00XX (the
 * Latin-1 reading of the byte).  comm and paths come from the kernel and
 * may contain anything.
 */
#ifndef __FDTRACE_JSON_WRITER_H
#define __FDTRACE_JSON_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <linux/types.h>

struct json_writer;

/* NULL and errno set on failure; the FILE stays the caller's */
struct json_writer *jsonw_new(FILE *f);
void jsonw_free(struct json_writer *w);
/*
 * 0 while every line written reached the FILE's fd; else the errno of the
 * first flush that failed (ENOSPC, EPIPE, ...).  NULL w: 0.
 */
int jsonw_error(const struct json_writer *w);

void jsonw_start_object(struct json_writer *w);
void jsonw_end_object(struct json_writer *w);
void jsonw_start_array(struct json_writer *w);
void jsonw_end_array(struct json_writer *w);

/* key of the next value inside an object */
void jsonw_name(struct json_writer *w, const char *name);

void jsonw_string(struct json_writer *w, const char *s);
/* at most len bytes of s, stopping early at a NUL (fixed-size comm) */
void jsonw_string_n(struct json_writer *w, const char *s, size_t len);
void jsonw_uint(struct json_writer *w, __u64 v);
void jsonw_int(struct json_writer *w, __s64 v);
/* fixed notation, 3 decimals, independent of locale; NaN/inf -> null */
void jsonw_float(struct json_writer *w, double v);
/* same with 0..9 decimals */
void jsonw_float_prec(struct json_writer *w, double v, int prec);
void jsonw_bool(struct json_writer *w, bool v);
void jsonw_null(struct json_writer *w);

/* "name":value pairs */
void jsonw_string_field(struct json_writer *w, const char *name, const char *s);
void jsonw_string_n_field(struct json_writer *w, const char *name,
			  const char *s, size_t len);
void jsonw_uint_field(struct json_writer *w, const char *name, __u64 v);
void jsonw_int_field(struct json_writer *w, const char *name, __s64 v);
void jsonw_float_field(struct json_writer *w, const char *name, double v);
void jsonw_bool_field(struct json_writer *w, const char *name, bool v);
void jsonw_null_field(struct json_writer *w, const char *name);

#endif /* __FDTRACE_JSON_WRITER_H */
