// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * libFuzzer target: any bytes as a recording, through the reader and on
 * into the engine and output, exactly as replay__run() takes a file.
 * Built with ASan and UBSan (make fuzz-build); `make fuzz` runs it from
 * the seeds in tests/fuzz/corpus, `make test` for a bounded time.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "output.h"
#include "record.h"
#include "replay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct output *out[2];
	struct record_reader *rr;
	char err[256];

	if (!out[0]) {
		/* text and JSON both: they print what the file says differently */
		FILE *null = fopen("/dev/null", "w");
		struct output_opts oo = { .out = null, .err = null };

		if (!null)
			abort();
		oo.format = OUTPUT_TEXT;
		out[0] = output__new(&oo);
		oo.format = OUTPUT_JSON;
		out[1] = output__new(&oo);
		if (!out[0] || !out[1])
			abort();
	}
	rr = record_reader__open_mem(data, size, err, sizeof(err));
	if (!rr)
		return 0;
	/* half the inputs with another grace: the unconfirmed path */
	struct replay_opts o = { .grace_ns = 1000000, .grace_set = size & 1 };

	replay__reader(rr, "fuzz", &o, out[size & 2 ? 1 : 0]);
	record_reader__close(rr);
	return 0;
}
