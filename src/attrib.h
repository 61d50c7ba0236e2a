/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * Where each traced process lives: its cgroup path, the systemd unit or
 * container id the path names, its executable.  Fed from RECORD_PROC
 * records (live: read from /proc when a process is first seen; replay:
 * from the recording), asked by the output for every finding, interval
 * and summary, dropped when the process is gone.
 */
#ifndef __FDTRACE_ATTRIB_H
#define __FDTRACE_ATTRIB_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#define ATTRIB_CGROUP_LEN	256
#define ATTRIB_UNIT_LEN		128
#define ATTRIB_EXE_LEN		256

struct attrib_entry {
	char cgroup[ATTRIB_CGROUP_LEN];	/* "" if unknown */
	char unit[ATTRIB_UNIT_LEN];	/* unit, container id, or "" */
	char exe[ATTRIB_EXE_LEN];
};

struct attrib;

/* NULL and errno set on failure */
struct attrib *attrib__new(void);
/* pid lives in cgroup (a cgroup v2 path, "0::" of /proc/PID/cgroup) and runs exe. */
int attrib__set(struct attrib *a, __u32 pid, const char *cgroup, const char *exe);
/* NULL if pid is not known */
const struct attrib_entry *attrib__get(const struct attrib *a, __u32 pid);
void attrib__drop(struct attrib *a, __u32 pid);
void attrib__free(struct attrib *a);

struct proc_attrib;
/* output.h's attrib_fn, ctx the struct attrib: what the output asks for. */
bool attrib__output(void *ctx, __u32 pid, struct proc_attrib *out);

/*
 * The unit a cgroup path names: the innermost systemd .service or .scope
 * ("nginx.service"), or a container's id (docker, containerd, cri-o,
 * podman, kubepods: the first 12 hex digits); "" if it names neither.
 */
void attrib__unit_of(const char *cgroup, char *buf, size_t len);

#endif /* __FDTRACE_ATTRIB_H */
