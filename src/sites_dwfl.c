// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Naming a return address in a live process with elfutils' libdwfl: one
 * Dwfl per process (its mappings, ELF and DWARF files, .gnu_debuglink and
 * build-id debug files where installed), dropped at exec and exit.
 *
 * The address is a return address: the call instruction ends just before
 * it, so symbols and lines are looked up at addr - 1 (at addr itself a
 * call that is the last instruction of a function would be named after
 * the next one).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <elfutils/libdwfl.h>
#include "sites.h"

#define MAX_DWFL	64	/* processes with their mappings loaded at once */

struct proc_dwfl {
	__u32 pid;
	Dwfl *dwfl;
};

struct dwfl_resolver {
	struct proc_dwfl dw[MAX_DWFL];
	size_t nr_dw;
};

static const Dwfl_Callbacks proc_callbacks = {
	.find_elf = dwfl_linux_proc_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
};

static Dwfl *dwfl_of(struct dwfl_resolver *s, __u32 pid)
{
	Dwfl *d;

	for (size_t i = 0; i < s->nr_dw; i++)
		if (s->dw[i].pid == pid)
			return s->dw[i].dwfl;
	d = dwfl_begin(&proc_callbacks);
	if (!d)
		return NULL;
	if (dwfl_linux_proc_report(d, pid) || dwfl_report_end(d, NULL, NULL)) {
		dwfl_end(d);
		return NULL;
	}
	if (s->nr_dw == MAX_DWFL) {
		/* the oldest goes: it is reloaded if asked again */
		dwfl_end(s->dw[0].dwfl);
		memmove(&s->dw[0], &s->dw[1], (MAX_DWFL - 1) * sizeof(s->dw[0]));
		s->nr_dw--;
	}
	s->dw[s->nr_dw++] = (struct proc_dwfl){ pid, d };
	return d;
}

/* "func+0x1c (file.c:57) [libfoo.so.1]", as much of it as is known */
static void resolve(struct dwfl_resolver *s, __u32 pid, __u64 addr, char *buf, size_t len)
{
	Dwfl *d = dwfl_of(s, pid);
	Dwfl_Module *mod = d ? dwfl_addrmodule(d, addr - 1) : NULL;
	const char *modname, *mainfile = NULL, *sym, *file = NULL, *base, *f;
	Dwarf_Addr start = 0;
	GElf_Off off = 0;
	GElf_Sym esym;
	Dwfl_Line *line;
	int lineno = 0, n;

	if (!mod) {
		snprintf(buf, len, "0x%" PRIx64, (uint64_t)addr);
		return;
	}
	modname = dwfl_module_info(mod, NULL, &start, NULL, NULL, NULL, &mainfile, NULL);
	if (!modname || modname[0] == '[')
		modname = mainfile;
	base = modname ? strrchr(modname, '/') : NULL;
	base = base ? base + 1 : modname ? modname : "?";
	sym = dwfl_module_addrinfo(mod, addr - 1, &off, &esym, NULL, NULL, NULL);
	/*
	 * A stripped module (Debian's python3.11, libc) offers only its
	 * exported symbols: the nearest one below an internal function is
	 * not where the call was.  A symbol is named only if the address is
	 * inside it; otherwise the module and offset, which stay true.
	 */
	if (sym && esym.st_size && off >= esym.st_size)
		sym = NULL;
	line = dwfl_module_getsrc(mod, addr - 1);
	if (line)
		file = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
	if (sym)
		n = snprintf(buf, len, "%s+0x%" PRIx64, sym, (uint64_t)off + 1);
	else
		n = snprintf(buf, len, "%s+0x%" PRIx64, base, (uint64_t)(addr - start));
	if (n < 0 || (size_t)n >= len)
		return;
	if (file && lineno > 0) {
		f = strrchr(file, '/');
		n += snprintf(buf + n, len - n, " (%s:%d)", f ? f + 1 : file, lineno);
		if (n < 0 || (size_t)n >= len)
			return;
	}
	if (sym)
		snprintf(buf + n, len - n, " [%s]", base);
}

int dwfl_resolver__name(void *ctx, __u32 pid, __u64 addr, char *buf, size_t len)
{
	resolve(ctx, pid, addr, buf, len);
	return 0;
}

void dwfl_resolver__forget(void *ctx, __u32 pid)
{
	struct dwfl_resolver *s = ctx;

	for (size_t i = 0; i < s->nr_dw; i++) {
		if (s->dw[i].pid == pid) {
			dwfl_end(s->dw[i].dwfl);
			s->dw[i] = s->dw[--s->nr_dw];
			break;
		}
	}
}

struct dwfl_resolver *dwfl_resolver__new(void)
{
	return calloc(1, sizeof(struct dwfl_resolver));
}

void dwfl_resolver__free(struct dwfl_resolver *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nr_dw; i++)
		dwfl_end(s->dw[i].dwfl);
	free(s);
}
