// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * py311_line() against CPython's own answer: reads lines of
 * "FIRSTLINENO HEX-LINETABLE LINE,LINE,..." (one line per code unit, -1
 * for none; tests/pysites_tests.py writes them from co_positions()) and
 * checks every code unit.  Prints the first mismatch; exit 1 if any.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pysites.h"

int main(int argc, char **argv)
{
	static char line[1 << 20];
	static unsigned char table[1 << 18];
	FILE *f = argc > 1 ? fopen(argv[1], "r") : stdin;
	long codes = 0, units = 0, bad = 0;

	if (!f) {
		perror("test_pysites");
		return 2;
	}
	while (fgets(line, sizeof(line), f)) {
		char *hex, *lines, *save = NULL, *tok;
		int first;
		size_t n = 0;
		__u32 i = 0;

		first = atoi(strtok_r(line, " ", &save));
		hex = strtok_r(NULL, " ", &save);
		lines = strtok_r(NULL, " \n", &save);
		if (!hex || !lines)
			continue;
		for (; hex[0] && hex[1] && n < sizeof(table); hex += 2)
			sscanf(hex, "%2hhx", &table[n++]);
		codes++;
		for (tok = strtok_r(lines, ",", &save); tok; tok = strtok_r(NULL, ",", &save), i++) {
			int want = atoi(tok), got = py311_line(table, n, first, i);

			units++;
			if (got != want && bad++ < 5)
				printf("code %ld (firstlineno %d), unit %u: line %d, CPython says %d\n",
				       codes, first, i, got, want);
		}
	}
	printf("%ld code objects, %ld code units, %ld wrong\n", codes, units, bad);
	return bad ? 1 : 0;
}
