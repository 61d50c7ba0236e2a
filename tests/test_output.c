// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Unit test of the output module and JSON writer: hand-made reports in,
 * exact lines out.  No root, no BPF.
 *
 *   test_output             run every test
 *   test_output NAME...     run the named tests only
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "clock.h"
#include "json_writer.h"
#include "output.h"
#include "unit.h"

/* mono 1000.123456789 s is 2026-11-27T15:04:05.123456789Z */
#define MONO_BASE	1000000000000ULL
#define WALL_BASE	1795791845000000000LL
#define RT_OFF		(WALL_BASE - (__s64)MONO_BASE)
#define T(ms)		(MONO_BASE + 123456789ULL + (__u64)(ms) * 1000000ULL)

/* An output writing to two memory streams. */
struct cap {
	char *out_buf, *err_buf;
	size_t out_len, err_len;
	FILE *out, *err;
	struct output *o;
};

static bool cap_open(struct cap *c, enum output_format fmt)
{
	struct output_opts opts = { .format = fmt, .realtime_offset_ns = RT_OFF };

	memset(c, 0, sizeof(*c));
	c->out = open_memstream(&c->out_buf, &c->out_len);
	c->err = open_memstream(&c->err_buf, &c->err_len);
	if (!c->out || !c->err)
		return false;
	opts.out = c->out;
	opts.err = c->err;
	c->o = output__new(&opts);
	return c->o != NULL;
}

/* flush so out_buf/err_buf hold everything written so far */
static void cap_sync(struct cap *c)
{
	fflush(c->out);
	fflush(c->err);
}

static void cap_close(struct cap *c)
{
	output__free(c->o);
	if (c->out)
		fclose(c->out);
	if (c->err)
		fclose(c->err);
	free(c->out_buf);
	free(c->err_buf);
}

static bool expect_str(const char *what, const char *got, const char *want)
{
	if (got && !strcmp(got, want))
		return true;
	printf("  %s:\n  want: %s\n  got:  %s\n", what, want, got ? got : "(null)");
	return false;
}

static bool expect_prefix_suffix(const char *what, const char *got,
				 const char *prefix, const char *suffix)
{
	size_t gl = got ? strlen(got) : 0, pl = strlen(prefix), sl = strlen(suffix);

	if (got && gl >= pl + sl && !strncmp(got, prefix, pl) &&
	    !strcmp(got + gl - sl, suffix))
		return true;
	printf("  %s:\n  want: %s...%s\n  got:  %s\n", what, prefix, suffix,
	       got ? got : "(null)");
	return false;
}

static struct report leak_report(void)
{
	struct report r = {
		.kind = REPORT_LEAK,
		.pid = 4242,
		.comm = "python3",
		.fd = 9,
		.epfd = 3,
		.file = { .ino = 123456, .dev = (0 << 20) | 8, .ftype = FDT_FT_SOCKET },
		.ts_ns = T(5002),
		.del_ts_ns = T(0),
		.unwatched_ns = 5002345678ULL,
	};
	return r;
}

static bool test_json_leak(void)
{
	struct report r = leak_report();
	struct cap c;
	bool ok;

	if (!cap_open(&c, OUTPUT_JSON))
		return false;
	output__report(c.o, &r);
	cap_sync(&c);
	ok = expect_str("out", c.out_buf,
		"{\"event\":\"leak\",\"time\":\"2026-11-27T15:04:10.125456Z\",\"mono_ns\":1005125456789,"
		"\"pid\":4242,\"comm\":\"python3\",\"fd\":9,\"epfd\":3,"
		"\"type\":\"socket\",\"inode\":123456,\"dev\":\"0:8\","
		"\"unwatched_s\":5.002,\"deregistered_at\":\"2026-11-27T15:04:05.123456Z\",\"deregistered_mono_ns\":1000123456789,"
		"\"evidence\":\"none\"}\n");
	ok &= expect_str("err", c.err_buf, "");
	cap_close(&c);

	/* the end of the watch not known: both of its times are null */
	if (!cap_open(&c, OUTPUT_JSON))
		return false;
	r.del_ts_ns = 0;
	output__report(c.o, &r);
	cap_sync(&c);
	ok &= expect_str("no del", c.out_buf,
		"{\"event\":\"leak\",\"time\":\"2026-11-27T15:04:10.125456Z\",\"mono_ns\":1005125456789,"
		"\"pid\":4242,\"comm\":\"python3\",\"fd\":9,\"epfd\":3,"
		"\"type\":\"socket\",\"inode\":123456,\"dev\":\"0:8\","
		"\"unwatched_s\":5.002,\"deregistered_at\":null,\"deregistered_mono_ns\":null,"
		"\"evidence\":\"none\"}\n");
	cap_close(&c);
	return ok;
}

static bool test_json_resolved(void)
{
	static const struct { enum resolve_how how; const char *name; } hows[] = {
		{ RESOLVE_CLOSED, "closed" },
		{ RESOLVE_REWATCHED, "rewatched" },
		{ RESOLVE_EXEC, "exec" },
		{ RESOLVE_EXIT, "exit" },
	};
	struct report r = leak_report();
	char want[1024];
	struct cap c;
	bool ok = true;
	size_t i;

	for (i = 0; i < sizeof(hows) / sizeof(hows[0]); i++) {
		if (!cap_open(&c, OUTPUT_JSON))
			return false;
		r.kind = REPORT_LEAK_RESOLVED;
		r.how = hows[i].how;
		r.file.ftype = FDT_FT_PIPE;
		r.file.dev = (3 << 20) | 17;
		r.ts_ns = T(7500);
		r.unwatched_ns = 7499500000ULL;	/* rounds up */
		output__report(c.o, &r);
		cap_sync(&c);
		snprintf(want, sizeof(want),
			 "{\"event\":\"leak_resolved\",\"time\":\"2026-11-27T15:04:12.623456Z\",\"mono_ns\":1007623456789,"
			 "\"pid\":4242,\"comm\":\"python3\",\"fd\":9,\"epfd\":3,"
			 "\"type\":\"pipe\",\"inode\":123456,\"dev\":\"3:17\","
			 "\"how\":\"%s\",\"unwatched_s\":7.500,"
			 "\"deregistered_at\":\"2026-11-27T15:04:05.123456Z\",\"deregistered_mono_ns\":1000123456789}\n",
			 hows[i].name);
		ok &= expect_str(hows[i].name, c.out_buf, want);
		cap_close(&c);
	}
	return ok;
}

static bool test_json_closed_watched_and_dereg(void)
{
	struct report r = leak_report();
	struct cap c;
	bool ok;

	if (!cap_open(&c, OUTPUT_JSON))
		return false;
	r.kind = REPORT_CLOSED_WHILE_WATCHED;
	r.file.ftype = FDT_FT_EVENTFD;
	r.ts_ns = T(1);
	output__report(c.o, &r);
	r.kind = REPORT_DEREGISTER_FAILED;
	r.fd = 11;
	r.file = (struct fdt_file){ 0 };
	output__report(c.o, &r);
	cap_sync(&c);
	ok = expect_str("out", c.out_buf,
		"{\"event\":\"closed_while_watched\",\"time\":\"2026-11-27T15:04:05.124456Z\",\"mono_ns\":1000124456789,"
		"\"pid\":4242,\"comm\":\"python3\",\"fd\":9,\"epfd\":3,"
		"\"type\":\"eventfd\",\"inode\":123456,\"dev\":\"0:8\"}\n"
		"{\"event\":\"deregister_failed\",\"time\":\"2026-11-27T15:04:05.124456Z\",\"mono_ns\":1000124456789,"
		"\"pid\":4242,\"comm\":\"python3\",\"fd\":11,\"epfd\":3,\"error\":\"EBADF\"}\n");
	cap_close(&c);
	return ok;
}

static bool test_json_summary_totals(void)
{
	struct proc_stats st = {
		.watches_ended = 12, .closed = 8, .closed_late = 1, .rewatched = 2,
		.leaks = 2, .open_leaks = 2, .closed_while_watched = 0,
		.deregister_failed = 1, .del_enoent = 3, .corrected = 0,
	};
	struct totals t = {
		.processes = 1, .watches_ended = 12, .leaks = 2, .open_leaks = 2,
		.lost_events = 37, .records = 5000, .bad_records = 1,
	};
	struct report r = { .kind = REPORT_SUMMARY, .pid = 4242, .comm = "python3",
			    .ts_ns = T(9000), .stats = &st };
	struct report rt = { .kind = REPORT_TOTALS, .ts_ns = T(9000), .totals = &t };
	struct cap c;
	bool ok;

	if (!cap_open(&c, OUTPUT_JSON))
		return false;
	output__report(c.o, &r);
	output__report(c.o, &rt);
	cap_sync(&c);
	ok = expect_str("out", c.out_buf,
		"{\"event\":\"summary\",\"pid\":4242,\"comm\":\"python3\","
		"\"watches_ended\":12,\"closed\":8,\"closed_late\":1,\"rewatched\":2,"
		"\"leaks\":2,\"open_leaks\":2,\"closed_while_watched\":0,"
		"\"deregister_failed\":1,\"del_enoent\":3,\"corrected\":0,"
		"\"leaks_idle\":0,\"leaks_peer_closed\":0,\"leaks_backpressured\":0,"
		"\"in_use\":0,\"paused\":0,"
		"\"untracked\":0,\"lost\":0,\"unconfirmed\":0,\"partial\":false,"
		"\"time\":\"2026-11-27T15:04:14.123456Z\",\"mono_ns\":1009123456789}\n"
		"{\"event\":\"totals\",\"processes\":1,\"watches_ended\":12,"
		"\"leaks\":2,\"open_leaks\":2,\"lost_events\":37,"
		"\"records\":5000,\"bad_records\":1,\"untracked\":0,"
		"\"time\":\"2026-11-27T15:04:14.123456Z\",\"mono_ns\":1009123456789}\n");
	cap_close(&c);
	return ok;
}

/* comm as the kernel may hand it over: any bytes, maybe no NUL */
static bool comm_case(const char *comm, size_t len, const char *want_json)
{
	struct report r = leak_report();
	char want[512];
	struct cap c;
	bool ok;

	memset(r.comm, 0, sizeof(r.comm));
	memcpy(r.comm, comm, len);
	r.kind = REPORT_DEREGISTER_FAILED;
	if (!cap_open(&c, OUTPUT_JSON))
		return false;
	output__report(c.o, &r);
	cap_sync(&c);
	snprintf(want, sizeof(want),
		 "{\"event\":\"deregister_failed\",\"time\":\"2026-11-27T15:04:10.125456Z\",\"mono_ns\":1005125456789,"
		 "\"pid\":4242,\"comm\":%s,\"fd\":9,\"epfd\":3,\"error\":\"EBADF\"}\n",
		 want_json);
	ok = expect_str(comm, c.out_buf, want);
	cap_close(&c);
	return ok;
}

static bool test_json_comm_escaping(void)
{
	bool ok = true;

	/* quote, backslash, control char, invalid UTF-8 byte, DEL */
	ok &= comm_case("a\"b\\c\x01" "d\xff" "e\x7f", 10,
			"\"a\\\"b\\\\c\\u0001d\\u00ffe\\u007f\"");
	/* newline and tab are control characters too */
	ok &= comm_case("x\ny\tz", 5, "\"x\\u000ay\\u0009z\"");
	/* well-formed UTF-8 passes through */
	ok &= comm_case("caf\xc3\xa9 \xe2\x82\xac", 9, "\"caf\xc3\xa9 \xe2\x82\xac\"");
	/* a sequence cut by the 16-byte comm limit */
	ok &= comm_case("abcdefghijklm\xe2\x82", 15, "\"abcdefghijklm\\u00e2\\u0082\"");
	/* overlong '/', a surrogate, a stray continuation byte */
	ok &= comm_case("\xc0\xaf" "\xed\xa0\x80" "\x80", 6,
			"\"\\u00c0\\u00af\\u00ed\\u00a0\\u0080\\u0080\"");
	/* all 16 bytes used, no NUL: stops at FDT_COMM_LEN */
	ok &= comm_case("0123456789abcdef", 16, "\"0123456789abcdef\"");
	return ok;
}

static bool test_json_start(void)
{
	static const __u32 pids[] = { 4242, 17 };
	static const char *const comms[] = { "python3", "no\"de" };
	struct start_info s = {
		.pids = pids, .nr_pids = 2, .comms = comms,
		.grace_ns = 5000000000ULL, .ts_ns = T(0),
	};
	struct start_info sc = {
		.command = "/usr/bin/python3", .command_pid = 99,
		.grace_ns = 250000000ULL, .ts_ns = T(0),
	};
	struct cap c;
	bool ok;

	if (!cap_open(&c, OUTPUT_JSON))
		return false;
	output__start(c.o, &s);
	output__start(c.o, &sc);
	cap_sync(&c);
	ok = expect_str("out", c.out_buf,
		"{\"event\":\"start\",\"time\":\"2026-11-27T15:04:05.123456Z\",\"mono_ns\":1000123456789,"
		"\"mode\":\"pids\",\"pids\":[4242,17],\"comms\":[\"python3\",\"no\\\"de\"],"
		"\"grace_s\":5.000,\"abi_version\":5}\n"
		"{\"event\":\"start\",\"time\":\"2026-11-27T15:04:05.123456Z\",\"mono_ns\":1000123456789,"
		"\"mode\":\"command\",\"pids\":[],\"command\":\"/usr/bin/python3\","
		"\"command_pid\":99,\"grace_s\":0.250,\"abi_version\":5}\n");
	ok &= expect_str("err", c.err_buf, "");
	cap_close(&c);
	return ok;
}

static bool test_json_messages_and_lost(void)
{
	struct cap c;
	char *second;
	bool ok;

	if (!cap_open(&c, OUTPUT_JSON))
		return false;
	output__error(c.o, "failed to attach %s: %s\n", "tp", "No such \"thing\"");
	cap_sync(&c);
	ok = expect_prefix_suffix("error", c.err_buf, "{\"event\":\"error\",\"time\":\"",
		",\"message\":\"failed to attach tp: No such \\\"thing\\\"\"}\n");
	second = c.err_buf ? strdup(c.err_buf) : NULL;
	output__warn(c.o, "%d records skipped", 3);
	cap_sync(&c);
	ok &= expect_prefix_suffix("warning", c.err_buf + (second ? strlen(second) : 0),
		"{\"event\":\"warning\",\"time\":\"", ",\"message\":\"3 records skipped\"}\n");
	free(second);
	/* messages carry the monotonic time they were written at */
	if (!c.err_buf || !strstr(c.err_buf, "Z\",\"mono_ns\":")) {
		printf("  messages: no mono_ns after the time: %s\n", c.err_buf ? c.err_buf : "(null)");
		ok = false;
	}

	output__lost(c.o, 5, T(100));
	output__lost(c.o, 5, T(200));	/* no change: nothing */
	output__lost(c.o, 3, T(250));	/* never goes back */
	output__lost(c.o, 12, T(300));
	cap_sync(&c);
	ok &= expect_str("out", c.out_buf,
		"{\"event\":\"lost\",\"time\":\"2026-11-27T15:04:05.223456Z\",\"mono_ns\":1000223456789,"
		"\"lost_events\":5,\"new_lost_events\":5}\n"
		"{\"event\":\"lost\",\"time\":\"2026-11-27T15:04:05.423456Z\",\"mono_ns\":1000423456789,"
		"\"lost_events\":12,\"new_lost_events\":7}\n");
	cap_close(&c);
	return ok;
}

static bool test_json_writer(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct json_writer *w;
	bool ok;

	if (!f || !(w = jsonw_new(f)))
		return false;
	jsonw_start_object(w);
	jsonw_name(w, "a");
	jsonw_start_array(w);
	jsonw_int(w, -3);
	jsonw_start_object(w);
	jsonw_end_object(w);
	jsonw_start_array(w);
	jsonw_end_array(w);
	jsonw_bool(w, true);
	jsonw_null(w);
	jsonw_end_array(w);
	jsonw_float_field(w, "nan", 0.0 / 0.0);
	jsonw_float_field(w, "inf", -1.0 / 0.0);
	jsonw_float_field(w, "neg", -2.0005);
	jsonw_float_field(w, "negzero", -0.0001);
	jsonw_float_field(w, "big", 1e17);
	jsonw_uint_field(w, "u", 18446744073709551615ULL);
	jsonw_int_field(w, "i", -9223372036854775807LL - 1);
	jsonw_bool_field(w, "f", false);
	jsonw_string_field(w, "s\"k", NULL);
	jsonw_end_object(w);
	jsonw_start_array(w);
	jsonw_uint(w, 1);
	jsonw_end_array(w);
	jsonw_string(w, "top");
	jsonw_free(w);
	fclose(f);
	ok = expect_str("json", buf,
		"{\"a\":[-3,{},[],true,null],\"nan\":null,\"inf\":null,"
		"\"neg\":-2.001,\"negzero\":0.000,\"big\":100000000000000000.000,"
		"\"u\":18446744073709551615,\"i\":-9223372036854775808,"
		"\"f\":false,\"s\\\"k\":null}\n[1]\n\"top\"\n");
	free(buf);
	return ok;
}

/* A leak's evidence: the class, and for TCP the state and byte counts */
static bool test_evidence(void)
{
	struct report r = leak_report();
	struct cap c;
	bool ok;

	struct fdt_sock_id sock = { .family = FDT_AF_INET, .type = 1, .protocol = 6,
				    .lport = 8080, .rport = 53122,
				    .laddr = { 127, 0, 0, 1 }, .raddr = { 127, 0, 0, 1 } };

	r.sock = &sock;
	r.ev = (struct evidence){ .cls = EVIDENCE_PEER_CLOSED,
				  .sock_flags = FDT_SOCKF_SOCKET | FDT_SOCKF_TCP,
				  .tcp_state = 8, .unread = 0, .read_since = 0,
				  .written_since = 12, .quiet_ns = 5002000000ULL };
	if (!cap_open(&c, OUTPUT_JSON))
		return false;
	output__report(c.o, &r);
	cap_sync(&c);
	ok = expect_str("json", c.out_buf,
		"{\"event\":\"leak\",\"time\":\"2026-11-27T15:04:10.125456Z\",\"mono_ns\":1005125456789,"
		"\"pid\":4242,\"comm\":\"python3\",\"fd\":9,\"epfd\":3,"
		"\"type\":\"socket\",\"inode\":123456,\"dev\":\"0:8\","
		"\"unwatched_s\":5.002,\"deregistered_at\":\"2026-11-27T15:04:05.123456Z\",\"deregistered_mono_ns\":1000123456789,"
		"\"socket\":{\"proto\":\"tcp\",\"local\":\"127.0.0.1:8080\","
		"\"peer\":\"127.0.0.1:53122\"},"
		"\"evidence\":\"peer_closed\",\"tcp_state\":\"CLOSE_WAIT\","
		"\"read_since_del\":0,\"written_since_del\":12,\"unread_bytes\":0,"
		"\"quiet_s\":5.002}\n");
	cap_close(&c);
	if (!cap_open(&c, OUTPUT_TEXT))
		return false;
	r.ev = (struct evidence){ .cls = EVIDENCE_BACKPRESSURED,
				  .sock_flags = FDT_SOCKF_SOCKET | FDT_SOCKF_TCP, .tcp_state = 1,
				  .unread = 4096 };
	output__report(c.o, &r);
	cap_sync(&c);
	ok &= expect_str("text", c.out_buf,
		"TIME         EVENT              PID COMM               FD  EPFD TYPE          INODE  UNWATCHED DETAIL                           WHAT\n"
		"15:04:10.125 LEAK              4242 python3             9     3 socket       123456     5.002s "
		"backpressured: 4096 bytes unread tcp 127.0.0.1:8080 <- 127.0.0.1:53122 ESTABLISHED\n");
	cap_close(&c);
	return ok;
}

static bool test_text(void)
{
	struct proc_stats st = {
		.watches_ended = 12, .closed = 8, .closed_late = 1, .rewatched = 2,
		.leaks = 2, .open_leaks = 2, .del_enoent = 3,
	};
	struct totals t = { .processes = 1, .watches_ended = 12, .leaks = 2,
			    .open_leaks = 2 };
	struct report r = leak_report(), rs, rt;
	static const __u32 pid = 4242;
	static const char *const comm[] = { "python3" };
	struct start_info s = { .pids = &pid, .nr_pids = 1, .comms = comm,
				.grace_ns = 5000000000ULL };
	struct cap c;
	bool ok;

	if (!cap_open(&c, OUTPUT_TEXT))
		return false;
	output__start(c.o, &s);
	r.comm[2] = '\x1b';	/* an escape sequence must not reach the tty */
	output__report(c.o, &r);
	r.kind = REPORT_LEAK_RESOLVED;
	r.how = RESOLVE_REWATCHED;
	r.ts_ns = T(8000);
	r.unwatched_ns = 7999999999ULL;
	output__report(c.o, &r);
	r.kind = REPORT_DEREGISTER_FAILED;
	r.file = (struct fdt_file){ 0 };
	r.epfd = 10;
	r.fd = 1234567;
	output__report(c.o, &r);
	rs = (struct report){ .kind = REPORT_SUMMARY, .pid = 4242,
			      .comm = "python3", .stats = &st };
	output__report(c.o, &rs);
	rt = (struct report){ .kind = REPORT_TOTALS, .totals = &t };
	output__report(c.o, &rt);
	t.processes = 2;
	t.leaks = 1;
	t.open_leaks = 0;
	t.watches_ended = 1;
	t.lost_events = 37;
	output__report(c.o, &rt);
	output__warn(c.o, "ring buffer %s", "busy");
	output__error(c.o, "failed to open %s: %s", "x", "ENOENT");
	output__lost(c.o, 4, T(1));
	cap_sync(&c);
	ok = expect_str("out", c.out_buf,
		"TIME         EVENT              PID COMM               FD  EPFD TYPE          INODE  UNWATCHED DETAIL                           WHAT\n"
		"15:04:10.125 LEAK              4242 py?hon3             9     3 socket       123456     5.002s\n"
		"15:04:13.123 RESOLVED          4242 py?hon3             9     3 socket       123456     8.000s re-watched\n"
		"15:04:13.123 DEL-EBADF         4242 py?hon3         1234567    10 -                 -          - EPOLL_CTL_DEL after close\n"
		"pid 4242 (python3): 12 watches ended: 8 closed (1 late), 2 re-watched, 2 leaked (2 still open), 3 EPOLL_CTL_DEL of unwatched fd (ENOENT)\n"
		"fdtrace: 1 process, 12 watches ended, 2 leaks (2 still open), 0 lost events\n"
		"fdtrace: 2 processes, 1 watch ended, 1 leak (0 still open), 37 lost events\n"
		"fdtrace: WARNING: 37 events lost: results may be incomplete\n");
	ok &= expect_prefix_suffix("err", c.err_buf,
		"fdtrace: tracing pid 4242 (python3), grace 5.0s; Ctrl-C to stop\n"
		"fdtrace: warning: ring buffer busy\n"
		"fdtrace: failed to open x: ENOENT\n"
		"fdtrace: warning: 15:04:05.124: 4 more events lost (4 in all): results may be incomplete\n",
		"");
	cap_close(&c);
	return ok;
}

/*
 * Python frames group leaks with the native site: two leaks from one
 * line are one site, a third from another line is another; text prints
 * the frames as a stack, JSON as arrays with the native site last.
 */
static bool sites_with_frames(enum output_format fmt, const char *want)
{
	struct proc_stats st = { .watches_ended = 3, .closed = 0, .leaks = 3, .open_leaks = 3 };
	struct report r = leak_report(), rs = { .kind = REPORT_SUMMARY, .pid = 4242,
					       .comm = "python3", .stats = &st };
	struct cap c;
	bool ok;

	if (!cap_open(&c, fmt))
		return false;
	r.del_site_name = "python3.11+0x10";
	r.add_site_name = "python3.11+0x20";
	r.del_py_name = "s.py:57 in on_data\ns.py:90 in <module>";
	r.add_py_name = "s.py:40 in on_accept";
	output__report(c.o, &r);
	r.fd = 10;
	output__report(c.o, &r);
	r.fd = 11;
	r.del_py_name = "s.py:60 in on_data\ns.py:90 in <module>";
	output__report(c.o, &r);
	output__report(c.o, &rs);
	cap_sync(&c);
	ok = expect_prefix_suffix(fmt == OUTPUT_TEXT ? "text" : "json", c.out_buf, "", want);
	cap_close(&c);
	return ok;
}

static bool test_sites_python_frames(void)
{
	return sites_with_frames(OUTPUT_TEXT,
		"    2 leaks: watch ended at\n"
		"        s.py:57 in on_data\n"
		"        s.py:90 in <module>\n"
		"        python3.11+0x10\n"
		"      watch began at\n"
		"        s.py:40 in on_accept\n"
		"        python3.11+0x20\n"
		"    1 leak: watch ended at\n"
		"        s.py:60 in on_data\n"
		"        s.py:90 in <module>\n"
		"        python3.11+0x10\n"
		"      watch began at\n"
		"        s.py:40 in on_accept\n"
		"        python3.11+0x20\n") &&
	       sites_with_frames(OUTPUT_JSON,
		"\"leaks\":2,\"del_site\":\"python3.11+0x10\",\"add_site\":\"python3.11+0x20\","
		"\"del_frames\":[\"s.py:57 in on_data\",\"s.py:90 in <module>\",\"python3.11+0x10\"],"
		"\"add_frames\":[\"s.py:40 in on_accept\",\"python3.11+0x20\"]}\n"
		"{\"event\":\"site\",\"pid\":4242,\"comm\":\"python3\",\"leaks\":1,"
		"\"del_site\":\"python3.11+0x10\",\"add_site\":\"python3.11+0x20\","
		"\"del_frames\":[\"s.py:60 in on_data\",\"s.py:90 in <module>\",\"python3.11+0x10\"],"
		"\"add_frames\":[\"s.py:40 in on_accept\",\"python3.11+0x20\"]}\n");
}

static bool test_text_start_command(void)
{
	struct start_info s = { .command = "/usr/bin/python3", .command_pid = 7,
				.grace_ns = 2000000000ULL };
	struct start_info all = { .grace_ns = 1500000000ULL };
	struct cap c;
	bool ok;

	if (!cap_open(&c, OUTPUT_TEXT))
		return false;
	output__start(c.o, &s);
	output__start(c.o, &all);
	cap_sync(&c);
	ok = expect_str("err", c.err_buf,
		"fdtrace: tracing /usr/bin/python3 (pid 7), grace 2.0s; Ctrl-C to stop\n"
		"fdtrace: tracing all processes, grace 1.5s; Ctrl-C to stop\n");
	ok &= expect_str("out", c.out_buf, "");
	cap_close(&c);
	return ok;
}

static bool test_misc(void)
{
	struct output_opts bad = { .format = 7 };
	char buf[CLOCK_RFC3339_LEN];
	__u64 a, b;
	bool ok = true;

	errno = 0;
	if (output__new(&bad) || errno != EINVAL) {
		printf("  output__new(bad format) did not fail with EINVAL\n");
		ok = false;
	}
	ok &= expect_str("ftype 7", fdt_ftype_name(FDT_FT_REG), "file");
	ok &= expect_str("ftype 99", fdt_ftype_name(99), "unknown");
	ok &= expect_str("ftype 0", fdt_ftype_name(FDT_FT_UNKNOWN), "unknown");
	clock__fmt_rfc3339(buf, sizeof(buf), 0, 0);
	ok &= expect_str("epoch", buf, "1970-01-01T00:00:00.000000Z");
	/* wall time before the epoch rounds toward the past */
	clock__fmt_rfc3339(buf, sizeof(buf), 0, -1);
	ok &= expect_str("pre-epoch", buf, "1969-12-31T23:59:59.999999Z");
	a = clock__mono_ns();
	b = clock__mono_ns();
	if (b < a || clock__realtime_offset() != clock__realtime_offset()) {
		printf("  clock not monotonic or offset not stable\n");
		ok = false;
	}
	return ok;
}

/* How long until EMFILE: the summary's last words, FD-PRESSURE rows, JSON fields */
static bool test_forecast(void)
{
	struct proc_stats st = { .watches_ended = 3, .leaks = 3, .open_leaks = 3 };
	struct fd_forecast leaking = {
		.sampled_ns = T(0), .open_fds = 243, .fd_limit = 1024, .fd_limit_hard = 4096,
		.rate_known = true, .leak_rate_per_s = 0.1, .leaking = true,
		.fd_limit_in_s = 7810,
	}, tidy = {
		.sampled_ns = T(0), .open_fds = 12, .fd_limit = 1024,
		.rate_known = true,
	}, unknown = { .fd_limit = UINT64_MAX }, slow = leaking;
	struct report r = { .kind = REPORT_SUMMARY, .pid = 4242, .comm = "python3",
			    .stats = &st, .fds = &leaking, .fd = -1, .epfd = -1 };
	struct report p = { .kind = REPORT_FD_PRESSURE, .pid = 4242, .comm = "python3",
			    .ts_ns = T(2000), .fds = &leaking, .fd = -1, .epfd = -1 };
	struct cap c;
	bool ok;

	slow.leak_rate_per_s = 0.0005;	/* 1.8 an hour */
	slow.fd_limit_in_s = 3 * 86400 + 5 * 3600 + 59;
	if (!cap_open(&c, OUTPUT_TEXT))
		return false;
	output__report(c.o, &r);
	r.fds = &slow;
	output__report(c.o, &r);
	r.fds = &tidy;
	output__report(c.o, &r);
	r.fds = &unknown;
	output__report(c.o, &r);
	output__report(c.o, &p);
	cap_sync(&c);
	ok = expect_str("text", c.out_buf,
		"pid 4242 (python3): 3 watches ended: 0 closed, 0 re-watched, 3 leaked (3 still open); 243 fds open: fd limit 1024 in ~2h10m at 0.1 leaks/s\n"
		"pid 4242 (python3): 3 watches ended: 0 closed, 0 re-watched, 3 leaked (3 still open); 243 fds open: fd limit 1024 in ~3d05h at 1.8 leaks/h\n"
		"pid 4242 (python3): 3 watches ended: 0 closed, 0 re-watched, 3 leaked (3 still open); 12 of 1024 fds open\n"
		"pid 4242 (python3): 3 watches ended: 0 closed, 0 re-watched, 3 leaked (3 still open)\n"
		"TIME         EVENT              PID COMM               FD  EPFD TYPE          INODE  UNWATCHED DETAIL                           WHAT\n"
		"15:04:07.123 FD-PRESSURE       4242 python3             -     - -                 -          - 243 of 1024 fds open (23%): fd limit 1024 in ~2h10m at 0.1 leaks/s\n");
	cap_close(&c);

	if (!cap_open(&c, OUTPUT_JSON))
		return false;
	r.ts_ns = T(3000);
	r.fds = &leaking;
	output__report(c.o, &p);
	output__report(c.o, &r);
	r.fds = &unknown;
	output__report(c.o, &r);
	cap_sync(&c);
	ok &= expect_str("json", c.out_buf,
		"{\"event\":\"fd_pressure\",\"time\":\"2026-11-27T15:04:07.123456Z\",\"mono_ns\":1002123456789,\"pid\":4242,\"comm\":\"python3\",\"open_fds\":243,\"fd_limit\":1024,\"leak_rate_per_s\":0.100000,\"fd_limit_in_s\":7810.000,\"threshold_pct\":80}\n"
		"{\"event\":\"summary\",\"pid\":4242,\"comm\":\"python3\",\"watches_ended\":3,\"closed\":0,\"closed_late\":0,\"rewatched\":0,\"leaks\":3,\"open_leaks\":3,\"closed_while_watched\":0,\"deregister_failed\":0,\"del_enoent\":0,\"corrected\":0,\"leaks_idle\":0,\"leaks_peer_closed\":0,\"leaks_backpressured\":0,\"in_use\":0,\"paused\":0,\"untracked\":0,\"lost\":0,\"unconfirmed\":0,\"open_fds\":243,\"fd_limit\":1024,\"leak_rate_per_s\":0.100000,\"fd_limit_in_s\":7810.000,\"partial\":false,\"time\":\"2026-11-27T15:04:08.123456Z\",\"mono_ns\":1003123456789}\n"
		"{\"event\":\"summary\",\"pid\":4242,\"comm\":\"python3\",\"watches_ended\":3,\"closed\":0,\"closed_late\":0,\"rewatched\":0,\"leaks\":3,\"open_leaks\":3,\"closed_while_watched\":0,\"deregister_failed\":0,\"del_enoent\":0,\"corrected\":0,\"leaks_idle\":0,\"leaks_peer_closed\":0,\"leaks_backpressured\":0,\"in_use\":0,\"paused\":0,\"untracked\":0,\"lost\":0,\"unconfirmed\":0,\"open_fds\":null,\"fd_limit\":null,\"leak_rate_per_s\":null,\"fd_limit_in_s\":null,\"partial\":false,\"time\":\"2026-11-27T15:04:08.123456Z\",\"mono_ns\":1003123456789}\n");
	cap_close(&c);
	return ok;
}

static const struct unit_test tests[] = {
	UNIT_TEST(json_leak),
	UNIT_TEST(evidence),
	UNIT_TEST(json_resolved),
	UNIT_TEST(json_closed_watched_and_dereg),
	UNIT_TEST(json_summary_totals),
	UNIT_TEST(json_comm_escaping),
	UNIT_TEST(json_start),
	UNIT_TEST(json_messages_and_lost),
	UNIT_TEST(json_writer),
	UNIT_TEST(text),
	UNIT_TEST(text_start_command),
	UNIT_TEST(sites_python_frames),
	UNIT_TEST(forecast),
	UNIT_TEST(misc),
};

int main(int argc, char **argv)
{
	/* text times are local: pin the zone */
	setenv("TZ", "UTC", 1);
	tzset();
	return unit_run(tests, sizeof(tests) / sizeof(tests[0]), argv + 1, argc - 1,
			NULL, NULL);
}
