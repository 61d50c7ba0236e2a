// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
/*
 * Python call sites in userspace: find the interpreter of a process and
 * name the frames the kernel captured, from the live process's memory.
 *
 * The process is read with process_vm_readv(): a code object is checked
 * to be one (its type is PyCode_Type) before its fields are believed, so
 * a stack taken from memory that changed since names "?" rather than a
 * wrong line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>
#include "pysites.h"
#include "py311_offsets.h"

#define MAX_PROCS	1024	/* processes followed at once; the oldest go */
#define MAX_TRIES	8	/* records of a process looked at for a libpython */
#define MAX_STR		512	/* file names and qualified names, bytes */
#define MAX_LINETABLE	(64 * 1024)
#define SETTLE_STEPS	50	/* a libpython being mapped: looked for this often, */
#define SETTLE_STEP_US	1000	/* this far apart */

enum py_state {
	PY_PENDING,	/* not found yet: looked for again at its next records */
	PY_KNOWN,	/* the kernel walks its frames */
	PY_NONE,	/* no interpreter, or one of an unknown layout */
};

struct py_proc {
	__u32 pid;
	__u8 state;	/* enum py_state */
	__u8 tries;
	__u64 code_type;	/* address of PyCode_Type, 0 if unknown */
	__u32 gen;		/* of the config given to the kernel */
};

#define MAX_CODES	512	/* code objects remembered, all processes */

/* What a code object says, read once per (process, program, object) */
struct py_code {
	__u32 pid, gen;		/* gen 0: a free slot */
	__u64 code;
	unsigned char head[FDT_PY311_CO_CODE_ADAPTIVE];	/* to see it is still the same */
	int first;
	__s64 tlen;
	unsigned char *table;	/* co_linetable's bytes, NULL if unreadable */
	char file[MAX_STR];
	char name[MAX_STR];
};

struct py_resolver {
	struct py_proc procs[MAX_PROCS];
	size_t nr;
	__u32 next_gen;
	struct py_code *codes;	/* MAX_CODES of them */
	size_t next_code;	/* the slot a new one takes, round robin */
};

struct py_resolver *py_resolver__new(void)
{
	if (elf_version(EV_CURRENT) == EV_NONE) {
		errno = EINVAL;
		return NULL;
	}
	struct py_resolver *r = calloc(1, sizeof(*r));

	if (r) {
		r->codes = calloc(MAX_CODES, sizeof(*r->codes));
		if (!r->codes) {
			free(r);
			return NULL;
		}
	}
	return r;
}

static void codes_forget(struct py_resolver *r, __u32 pid);

void py_resolver__free(struct py_resolver *r)
{
	if (!r)
		return;
	codes_forget(r, 0);
	free(r->codes);
	free(r);
}

static struct py_proc *proc_of(struct py_resolver *r, __u32 pid, bool add)
{
	for (size_t i = 0; i < r->nr; i++)
		if (r->procs[i].pid == pid)
			return &r->procs[i];
	if (!add)
		return NULL;
	if (r->nr == MAX_PROCS) {
		memmove(&r->procs[0], &r->procs[1], (MAX_PROCS - 1) * sizeof(r->procs[0]));
		r->nr--;
	}
	r->procs[r->nr] = (struct py_proc){ .pid = pid };
	return &r->procs[r->nr++];
}

__u32 py_resolver__gen(struct py_resolver *r, __u32 pid)
{
	struct py_proc *p = proc_of(r, pid, false);

	return p && p->state == PY_KNOWN ? p->gen : 0;
}

void py_resolver__forget(struct py_resolver *r, __u32 pid)
{
	struct py_proc *p = proc_of(r, pid, false);

	codes_forget(r, pid);

	if (p)
		*p = r->procs[--r->nr];
}

static int peek(__u32 pid, __u64 addr, void *buf, size_t len)
{
	struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)addr, len };
	ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EFAULT;
}

struct elf_syms {
	__u64 runtime, version, code_type;	/* symbol values, 0 if absent */
	__u64 vaddr0;				/* lowest PT_LOAD, page aligned */
	bool dyn;				/* ET_DYN: loaded with a bias */
};

static void scan_symtab(Elf *e, Elf_Scn *scn, GElf_Shdr *sh, struct elf_syms *out)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	size_t n = sh->sh_entsize ? sh->sh_size / sh->sh_entsize : 0;
	GElf_Sym sym;

	for (size_t i = 0; d && i < n; i++) {
		const char *name;

		if (!gelf_getsym(d, i, &sym) || sym.st_shndx == SHN_UNDEF || !sym.st_value)
			continue;
		name = elf_strptr(e, sh->sh_link, sym.st_name);
		if (!name || (name[0] != '_' && name[0] != 'P'))
			continue;
		if (!strcmp(name, "_PyRuntime"))
			out->runtime = sym.st_value;
		else if (!strcmp(name, "Py_Version"))
			out->version = sym.st_value;
		else if (!strcmp(name, "PyCode_Type"))
			out->code_type = sym.st_value;
	}
}

/* The symbols of an interpreter in path (seen from the process's root). */
static int elf_syms(__u32 pid, const char *path, struct elf_syms *out)
{
	char full[4096 + 32];
	Elf_Scn *scn = NULL;
	GElf_Ehdr eh;
	size_t nph;
	Elf *e;
	int fd;

	memset(out, 0, sizeof(*out));
	snprintf(full, sizeof(full), "/proc/%u/root%s", pid, path);
	fd = open(full, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!e || !gelf_getehdr(e, &eh)) {
		if (e)
			elf_end(e);
		close(fd);
		return -ENOEXEC;
	}
	out->dyn = eh.e_type == ET_DYN;
	out->vaddr0 = UINT64_MAX;
	if (!elf_getphdrnum(e, &nph)) {
		for (size_t i = 0; i < nph; i++) {
			GElf_Phdr ph;

			if (gelf_getphdr(e, i, &ph) && ph.p_type == PT_LOAD && ph.p_vaddr < out->vaddr0)
				out->vaddr0 = ph.p_vaddr & ~0xfffULL;
		}
	}
	if (out->vaddr0 == UINT64_MAX)
		out->vaddr0 = 0;
	/* .dynsym first (a stripped interpreter exports these), then .symtab */
	for (int pass = 0; pass < 2 && !out->runtime; pass++) {
		scn = NULL;
		while ((scn = elf_nextscn(e, scn))) {
			GElf_Shdr sh;

			if (gelf_getshdr(scn, &sh) &&
			    sh.sh_type == (pass ? SHT_SYMTAB : SHT_DYNSYM))
				scan_symtab(e, scn, &sh, out);
		}
	}
	elf_end(e);
	close(fd);
	return out->runtime ? 0 : -ENOENT;
}

/* "3.11" from a path like /usr/lib/libpython3.11.so.1.0 or /usr/bin/python3.11 */
static bool version_from_name(const char *path, unsigned int *major, unsigned int *minor)
{
	const char *b = strrchr(path, '/');
	const char *p = strstr(b ? b : path, "python");

	return p && sscanf(p, "python%u.%u", major, minor) == 2;
}

/* pystack.bpf.h reads a frame's fields in one 64-byte window from f_code */
#define IN_WINDOW(off)	((off) >= FDT_PY311_IF_CODE && (off) + 8 <= FDT_PY311_IF_CODE + 64 && \
			 ((off) - FDT_PY311_IF_CODE) % 8 == 0)
_Static_assert(IN_WINDOW(FDT_PY311_IF_PREVIOUS) && IN_WINDOW(FDT_PY311_IF_PREV_INSTR) &&
	       FDT_PY311_IF_OWNER >= FDT_PY311_IF_CODE && FDT_PY311_IF_OWNER < FDT_PY311_IF_CODE + 64,
	       "the frame fields the kernel reads lie in its window");

static void fill_311(struct fdt_py_proc *c)
{
	c->layout = FDT_PY_LAYOUT_311;
	c->rt_interp_head = FDT_PY311_RT_INTERP_HEAD;
	c->is_tstate_head = FDT_PY311_IS_TSTATE_HEAD;
	c->ts_next = FDT_PY311_TS_NEXT;
	c->ts_native_tid = FDT_PY311_TS_NATIVE_TID;
	c->ts_cframe = FDT_PY311_TS_CFRAME;
	c->cf_current_frame = FDT_PY311_CF_CURRENT_FRAME;
	c->if_code = FDT_PY311_IF_CODE;
	c->if_previous = FDT_PY311_IF_PREVIOUS;
	c->if_prev_instr = FDT_PY311_IF_PREV_INSTR;
	c->if_owner = FDT_PY311_IF_OWNER;
	c->co_code_adaptive = FDT_PY311_CO_CODE_ADAPTIVE;
	c->co_firsttraceable = FDT_PY311_CO_FIRSTTRACEABLE;
	c->owned_by_generator = FDT_PY311_OWNED_BY_GENERATOR;
	c->pad = 0;
}

/*
 * Look through pid's mappings for an interpreter: 0 (cfg set), -ENOENT
 * (none mapped), -EPROTONOSUPPORT (another version, in ver).
 */
static int detect(struct py_proc *p, struct fdt_py_proc *cfg, char *ver, size_t len)
{
	char maps[64], line[4096 + 128], path[4096], seen[4096] = "";
	int ret = -ENOENT;
	FILE *f;

	snprintf(maps, sizeof(maps), "/proc/%u/maps", p->pid);
	f = fopen(maps, "re");
	if (!f)
		return -ENOENT;
	while (ret == -ENOENT && fgets(line, sizeof(line), f)) {
		unsigned long long start, off;
		unsigned int major = 0, minor = 0;
		struct elf_syms es;
		const char *base;
		__u64 bias, v = 0;

		if (sscanf(line, "%llx-%*x %*s %llx %*s %*s %4095s", &start, &off, path) != 3)
			continue;
		base = strrchr(path, '/');
		base = base ? base + 1 : path;
		/* the executable or a libpython, at its first mapping */
		if (off != 0 || path[0] != '/' || !strcmp(path, seen) ||
		    (strncmp(base, "python", 6) && strncmp(base, "libpython", 9)))
			continue;
		snprintf(seen, sizeof(seen), "%s", path);
		if (elf_syms(p->pid, path, &es))
			continue;
		bias = es.dyn ? start - es.vaddr0 : 0;
		if (es.version && !peek(p->pid, bias + es.version, &v, 4)) {
			major = (v >> 24) & 0xff;
			minor = (v >> 16) & 0xff;
		} else if (!version_from_name(path, &major, &minor)) {
			major = minor = 0;
		}
		if (major == 3 && minor == 11) {
			memset(cfg, 0, sizeof(*cfg));
			fill_311(cfg);
			cfg->runtime = bias + es.runtime;
			p->code_type = es.code_type ? bias + es.code_type : 0;
			ret = 0;
		} else {
			if (major)
				snprintf(ver, len, "%u.%u", major, minor);
			else
				snprintf(ver, len, "of unknown version");
			ret = -EPROTONOSUPPORT;
		}
	}
	fclose(f);
	return ret;
}

/* The executable is named python*: an interpreter may be on its way. */
static bool python_exe(__u32 pid)
{
	char link[64], path[4096];
	const char *base;
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%u/exe", pid);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		return false;
	path[n] = 0;
	base = strrchr(path, '/');
	return !strncmp(base ? base + 1 : path, "python", 6);
}

int py_resolver__seen(struct py_resolver *r, __u32 pid, bool fresh, __u32 inherit_gen,
		      struct fdt_py_proc *cfg, char *ver, size_t len)
{
	struct py_proc *p = proc_of(r, pid, fresh);
	int err;

	if (!p)
		return 0;
	if (fresh) {
		codes_forget(r, pid);
		p->gen = 0;
		p->state = PY_PENDING;
		p->tries = 0;
		p->code_type = 0;
	}
	if (p->state != PY_PENDING)
		return 0;
	err = detect(p, cfg, ver, len);
	/*
	 * Just after an exec, a python whose interpreter is a shared library
	 * (pyenv's) has not mapped it yet: ld.so does so within a few ms, well
	 * before the interpreter makes its first epoll_ctl.
	 */
	for (int i = 0; fresh && err == -ENOENT && i < SETTLE_STEPS && python_exe(pid); i++) {
		usleep(SETTLE_STEP_US);
		err = detect(p, cfg, ver, len);
	}
	if (!err) {
		p->state = PY_KNOWN;
		if (inherit_gen)
			p->gen = cfg->gen = inherit_gen;
		else
			p->gen = cfg->gen = ++r->next_gen ? r->next_gen : ++r->next_gen;
		return 1;
	}
	if (err == -EPROTONOSUPPORT || ++p->tries >= MAX_TRIES) {
		p->state = PY_NONE;
		return err == -EPROTONOSUPPORT ? err : 0;
	}
	return 0;
}

static int read_varint(const unsigned char *t, size_t len, size_t *i, __u32 *out)
{
	__u32 v = 0;
	int shift = 0;

	while (*i < len && shift < 32) {
		unsigned char b = t[(*i)++];

		v |= (__u32)(b & 0x3f) << shift;
		shift += 6;
		if (!(b & 0x40)) {
			*out = v;
			return 0;
		}
	}
	return -1;
}

static int read_svarint(const unsigned char *t, size_t len, size_t *i, int *out)
{
	__u32 u;

	if (read_varint(t, len, i, &u))
		return -1;
	*out = u & 1 ? -(int)(u >> 1) : (int)(u >> 1);
	return 0;
}

/*
 * CPython 3.11's co_linetable (Objects/locations.md): entries of one byte
 * 1CCCCLLL (code C, L+1 code units) and the bytes of that form; only the
 * line matters here.  Codes 0-9: same line; 10-12: line + (C - 10);
 * 13: a signed varint line delta; 14: the same, then end line and
 * columns (varints); 15: no location.
 */
int py311_line(const unsigned char *t, size_t len, int firstlineno, __u32 lasti)
{
	size_t i = 0;
	__u32 addr = 0, skip;
	int line = firstlineno;

	while (i < len) {
		unsigned char b = t[i++];
		unsigned int code = (b >> 3) & 15;
		__u32 end = addr + (b & 7) + 1;
		int delta = 0;
		bool none = false;

		if (!(b & 0x80))
			return -1;	/* not the start of an entry: not a table we know */
		if (code <= 9) {
			i++;			/* column */
		} else if (code <= 12) {
			delta = code - 10;
			i += 2;			/* start and end column */
		} else if (code == 13) {
			if (read_svarint(t, len, &i, &delta))
				return -1;
		} else if (code == 14) {
			if (read_svarint(t, len, &i, &delta) ||
			    read_varint(t, len, &i, &skip) || read_varint(t, len, &i, &skip) ||
			    read_varint(t, len, &i, &skip))
				return -1;
		} else {
			none = true;
		}
		line += delta;
		if (lasti >= addr && lasti < end)
			return none ? -1 : line;
		addr = end;
	}
	return -1;
}

/* A str object as UTF-8 (ASCII, or compact with its UTF-8 cached, or Latin-1). */
static int read_str(__u32 pid, __u64 obj, char *buf, size_t len)
{
	unsigned char hdr[FDT_PY311_COMPACT_SIZE];
	__s64 n;
	__u32 state;
	__u64 utf8 = 0;
	size_t want;

	if (!obj || len < 2 || peek(pid, obj, hdr, sizeof(hdr)))
		return -EFAULT;
	memcpy(&n, hdr + FDT_PY311_STR_LENGTH, sizeof(n));
	memcpy(&state, hdr + FDT_PY311_STR_STATE, sizeof(state));
	if (n < 0)
		return -EINVAL;
	/* state: interned:2 kind:3 compact:1 ascii:1 ready:1 */
	if (!(state & (1 << 5)))
		return -ENOTSUP;			/* not compact: legacy */
	if (state & (1 << 6)) {
		want = (size_t)n < len - 1 ? (size_t)n : len - 1;
		if (peek(pid, obj + FDT_PY311_ASCII_SIZE, buf, want))
			return -EFAULT;
		buf[want] = 0;
		return 0;
	}
	memcpy(&utf8, hdr + FDT_PY311_STR_UTF8, sizeof(utf8));
	if (utf8) {
		__s64 ulen;

		memcpy(&ulen, hdr + FDT_PY311_STR_UTF8 - 8, sizeof(ulen));	/* utf8_length */
		want = ulen > 0 && (size_t)ulen < len - 1 ? (size_t)ulen : len - 1;
		if (peek(pid, utf8, buf, want))
			return -EFAULT;
		buf[want] = 0;
		return 0;
	}
	if (((state >> 2) & 7) == 1) {		/* PyUnicode_1BYTE_KIND: Latin-1 */
		unsigned char raw[MAX_STR];
		size_t o = 0;

		want = (size_t)n < sizeof(raw) ? (size_t)n : sizeof(raw);
		if (peek(pid, obj + FDT_PY311_COMPACT_SIZE, raw, want))
			return -EFAULT;
		for (size_t k = 0; k < want && o + 2 < len; k++) {
			if (raw[k] < 0x80) {
				buf[o++] = raw[k];
			} else {
				buf[o++] = 0xc0 | raw[k] >> 6;
				buf[o++] = 0x80 | (raw[k] & 0x3f);
			}
		}
		buf[o] = 0;
		return 0;
	}
	return -ENOTSUP;
}


static void code_drop(struct py_code *c)
{
	free(c->table);
	memset(c, 0, sizeof(*c));
}

/* The cached object, if its header still reads the same (an object freed and another made there would not) */
static struct py_code *code_find(struct py_resolver *r, struct py_proc *p, __u64 code,
				 const unsigned char *head)
{
	for (size_t i = 0; i < MAX_CODES; i++) {
		struct py_code *c = &r->codes[i];

		if (c->gen == p->gen && c->pid == p->pid && c->code == code)
			return memcmp(c->head, head, sizeof(c->head)) ? (code_drop(c), NULL) : c;
	}
	return NULL;
}

static struct py_code *code_read(struct py_resolver *r, struct py_proc *p, __u64 code,
				 const unsigned char *head)
{
	struct py_code *c = &r->codes[r->next_code++ % MAX_CODES];
	__u64 linetable, filename, qualname;

	code_drop(c);
	c->pid = p->pid;
	c->gen = p->gen;
	c->code = code;
	memcpy(c->head, head, sizeof(c->head));
	memcpy(&c->first, head + FDT_PY311_CO_FIRSTLINENO, sizeof(c->first));
	memcpy(&linetable, head + FDT_PY311_CO_LINETABLE, sizeof(linetable));
	memcpy(&filename, head + FDT_PY311_CO_FILENAME, sizeof(filename));
	memcpy(&qualname, head + FDT_PY311_CO_QUALNAME, sizeof(qualname));
	if (read_str(p->pid, filename, c->file, sizeof(c->file)))
		snprintf(c->file, sizeof(c->file), "?");
	if (read_str(p->pid, qualname, c->name, sizeof(c->name)))
		snprintf(c->name, sizeof(c->name), "?");
	if (linetable && !peek(p->pid, linetable + FDT_PY311_VAR_SIZE, &c->tlen, sizeof(c->tlen)) &&
	    c->tlen > 0 && c->tlen <= MAX_LINETABLE && (c->table = malloc(c->tlen)) &&
	    peek(p->pid, linetable + FDT_PY311_BYTES_SVAL, c->table, c->tlen)) {
		free(c->table);
		c->table = NULL;
	}
	return c;
}

int py_resolver__frame(struct py_resolver *r, __u32 pid, __u64 code, __u32 lasti,
		       char *buf, size_t len)
{
	struct py_proc *p = proc_of(r, pid, false);
	unsigned char head[FDT_PY311_CO_CODE_ADAPTIVE];
	const char *file;
	struct py_code *c;
	size_t room, fl;
	__u64 type;
	int line;

	if (!p || p->state != PY_KNOWN)
		return -ENOENT;
	if (peek(pid, code, head, sizeof(head)))
		return -EFAULT;
	memcpy(&type, head + FDT_PY311_OB_TYPE, sizeof(type));
	if (p->code_type && type != p->code_type)
		return -EINVAL;		/* no longer a code object */
	c = code_find(r, p, code, head);
	if (!c)
		c = code_read(r, p, code, head);
	line = c->table ? py311_line(c->table, c->tlen, c->first, lasti) : -1;
	/* a long path gives way to the function's name: its end is kept */
	file = c->file;
	fl = strlen(file);
	room = len > strlen(c->name) + 24 ? len - strlen(c->name) - 24 : 8;
	if (fl > room) {
		if (line > 0)
			snprintf(buf, len, "...%s:%d in %s", file + fl - room + 3, line, c->name);
		else
			snprintf(buf, len, "...%s in %s", file + fl - room + 3, c->name);
	} else if (line > 0) {
		snprintf(buf, len, "%s:%d in %s", file, line, c->name);
	} else {
		snprintf(buf, len, "%s in %s", file, c->name);
	}
	return 0;
}

/* pid's code objects (0: everyone's) are forgotten: it exec'd or exited */
static void codes_forget(struct py_resolver *r, __u32 pid)
{
	for (size_t i = 0; i < MAX_CODES; i++)
		if (r->codes[i].gen && (!pid || r->codes[i].pid == pid))
			code_drop(&r->codes[i]);
}
