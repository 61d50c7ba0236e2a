// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include "probe.h"

int probe__fentry(const char *const *funcs, size_t n, char *errbuf, size_t errlen)
{
	/* r0 = 0; exit: fentry programs must return 0 */
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	struct btf *vmlinux;
	int err = 0;

	vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux) {
		err = -errno;
		snprintf(errbuf, errlen, "cannot read the kernel's BTF: %s", strerror(-err));
		return err;
	}
	for (size_t i = 0; i < n && !err; i++) {
		LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_FENTRY);
		int id, prog_fd, link_fd;

		id = btf__find_by_name_kind(vmlinux, funcs[i], BTF_KIND_FUNC);
		if (id < 0) {
			err = id;
			snprintf(errbuf, errlen, "%s is not in the kernel's BTF", funcs[i]);
			break;
		}
		opts.attach_btf_id = id;
		prog_fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "fdt_probe", "Dual BSD/GPL",
					insns, sizeof(insns) / sizeof(insns[0]), &opts);
		if (prog_fd < 0) {
			err = -errno;
			snprintf(errbuf, errlen, "loading an fentry program for %s: %s", funcs[i],
				 strerror(-err));
			break;
		}
		/* how an fentry program is attached since 5.5 */
		link_fd = bpf_raw_tracepoint_open(NULL, prog_fd);
		if (link_fd < 0) {
			err = -errno;
			snprintf(errbuf, errlen, "attaching fentry to %s: %s", funcs[i],
				 strerror(-err));
		} else {
			close(link_fd);
		}
		close(prog_fd);
	}
	btf__free(vmlinux);
	return err;
}
