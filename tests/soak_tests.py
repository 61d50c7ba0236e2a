# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""The soak's short version: 60 seconds of churn under --all (tests/soak.py).

`make soak` runs the same for SOAK_MINUTES (default 10).
"""
import os
import sys

import harness as h
from harness import test, check

SECONDS = 60


@test(timeout=SECONDS + 60)
def soak_60s(ctx):
    """--all for 60 s of short-lived processes: RSS, fds and map entries flat; every leak made is found."""
    p = h.Proc(ctx, [h.PYTHON, os.path.join(h.HERE, "soak.py"), "--build", ctx.build,
                     "--seconds", SECONDS], name="soak")
    rc = p.wait(SECONDS + 50)
    out = p.stdout_lines()
    for line in out[-8:]:
        ctx.log(line)
    print("\n".join(f"    {l}" for l in out[-6:]), flush=True)
    check(rc == 0, f"the soak did not hold: {out[-3:]} {p.stderr_lines()[-3:]}")
