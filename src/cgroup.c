// SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "cgroup.h"

#define CONTAINER_ID_LEN	64	/* sha256, hex: docker, containerd, CRI-O, podman */
#define SHORT_ID_LEN		12	/* as `docker ps` shows it */

static bool all_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return true;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n >= k && !memcmp(s + n - k, suffix, k);
}

/*
 * The container id component c (n bytes) names, or NULL: "<64 hex>"
 * (cgroupfs driver) or "<runtime>-<64 hex>.scope" (systemd driver).
 */
static const char *container_id(const char *c, size_t n)
{
	if (n == CONTAINER_ID_LEN && all_hex(c, n))
		return c;
	if (ends_with(c, n, ".scope"))
		n -= strlen(".scope");
	else
		return NULL;
	if (n > CONTAINER_ID_LEN && c[n - CONTAINER_ID_LEN - 1] == '-' &&
	    all_hex(c + n - CONTAINER_ID_LEN, CONTAINER_ID_LEN))
		return c + n - CONTAINER_ID_LEN;
	return NULL;
}

static int put(char *buf, size_t len, const char *s, size_t n)
{
	if (!len)
		return -ENAMETOOLONG;
	if ((size_t)snprintf(buf, len, "%.*s", (int)n, s) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int cgroup__unit(const char *cgroup_path, char *buf, size_t len)
{
	const char *end = cgroup_path + strlen(cgroup_path);
	int err;

	/* components from the innermost out */
	while (end > cgroup_path) {
		const char *start = end, *id;
		size_t n;

		while (start > cgroup_path && start[-1] != '/')
			start--;
		n = end - start;
		id = container_id(start, n);
		if (id) {
			err = put(buf, len, id, SHORT_ID_LEN);
			return err ? err : CGROUP_CONTAINER;
		}
		if (ends_with(start, n, ".service") || ends_with(start, n, ".scope")) {
			err = put(buf, len, start, n);
			return err ? err : CGROUP_UNIT;
		}
		end = start > cgroup_path ? start - 1 : start;
	}
	err = put(buf, len, cgroup_path, strlen(cgroup_path));
	return err ? err : CGROUP_PATH;
}
