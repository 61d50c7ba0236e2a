/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */
/*
 * Where a process lives, for people and for metric labels: the systemd
 * unit or the container id that a cgroup v2 path names.
 */
#ifndef __FDTRACE_CGROUP_H
#define __FDTRACE_CGROUP_H

#include <stddef.h>

enum cgroup_kind {
	CGROUP_PATH = 0,	/* neither: the path itself */
	CGROUP_UNIT,		/* a systemd .service or .scope */
	CGROUP_CONTAINER,	/* a container id, its first 12 hex digits */
};

/*
 * From a cgroup v2 path (the "0::" line of /proc/PID/cgroup), into buf:
 *
 *   /system.slice/docker-<64 hex>.scope      container: its 12-digit id
 *   /docker/<64 hex>, /kubepods/.../<64 hex>  (cgroupfs driver)
 *   .../cri-containerd-<64 hex>.scope, .../crio-<64 hex>.scope,
 *   .../libpod-<64 hex>.scope                 (containerd, CRI-O, podman)
 *   /system.slice/nginx.service               unit: nginx.service
 *   /user.slice/user-1000.slice/session-2.scope   unit: session-2.scope
 *   anything else                             the path itself
 *
 * The innermost component that names a container or a unit wins, so a
 * service's own subgroups (/system.slice/x.service/worker) are the
 * service's, and a container started by a service is the container's.
 * Returns the enum cgroup_kind, or -ENAMETOOLONG when buf was too small
 * (it holds what fitted).
 */
int cgroup__unit(const char *cgroup_path, char *buf, size_t len);

#endif /* __FDTRACE_CGROUP_H */
