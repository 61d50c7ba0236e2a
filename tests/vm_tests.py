# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""The short VM run: fdtrace's tests inside Debian's kernels, one test per kernel.

Each test boots one kernel of tests/vm/vmtest.py (Debian 12's 6.1, and
the 6.12 bookworm ships as well) in qemu under TCG and runs the short
selection (vmtest.SHORT) there; it fails naming the tests that failed
inside.  Everything is in tests/vm/vmtest.py, which `make vmtest` runs
with the larger selection; this module only wraps it.  The first run
downloads the kernel packages into build/vm/.

Under TCG a kernel takes about 3 to 4 minutes here (both fdtrace
backends, both stream modes); qemu is killed after VM_TIMEOUT seconds,
so the two stay within 14 minutes even on a loaded machine.  A guest
kernel that dies with a report naming neither BPF nor fdtrace is booted
once more (see vm_run); that adds at most one VM_TIMEOUT.
"""
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "vm"))
import vmtest  # noqa: E402
from harness import test, check, Fail, Skip, OPTIONAL_TOOLS  # noqa: E402

VM_TIMEOUT = 420


def has_qemu():
    # No VM inside the VM: run.sh sets FDTRACE_IN_VM.
    return bool(shutil.which("qemu-system-x86_64")) and not os.environ.get("FDTRACE_IN_VM")


OPTIONAL_TOOLS["qemu"] = has_qemu


# A kernel report that names BPF, a BPF program or fdtrace: ours to answer for.
OURS = re.compile(r"bpf|fdtrace|trampoline|ringbuf", re.I)


def boot(ctx, kernel):
    try:
        res = vmtest.run_kernel(kernel, ctx.build, vmtest.SHORT, VM_TIMEOUT,
                                echo=lambda line: ctx.log(f"vm: {line}"))
    except vmtest.VmError as e:
        raise Fail(f"vm {kernel}: {e}")
    ctx.log(vmtest.describe(res))
    print(f"    {vmtest.describe(res)}", flush=True)
    # printed, not only logged: CI keeps the output, not build/vm
    for line in vmtest.stop_lines(res):
        print(f"    vm {kernel}: {line}", flush=True)
    return res


def vm_run(ctx, kernel):
    if not has_qemu():
        raise Skip("qemu-system-x86_64 is not installed")
    res = boot(ctx, kernel)
    oops = res.get("oops")
    if oops and not res["passed"] and not any(OURS.search(line) for line in oops):
        # The guest kernel died of something its report does not tie to
        # BPF or fdtrace: qemu's TCG is an emulator, and its faults are not
        # fdtrace's.  Boot once more: a second death, or any failure, fails
        # the test.  A report naming BPF or fdtrace never retries: that is
        # how 6.12's "Oops: int3" in an fdtrace thread was found (the
        # link closes in tracer.c).
        print(f"    vm {kernel}: the guest kernel died outside BPF, as above: booting it again",
              flush=True)
        res = boot(ctx, kernel)
    if res["failures"]:
        raise Fail(f"failed in the {res['release']} VM: {', '.join(res['failures'])} "
                   f"(files in {res['run']})")
    check(not res["error"], f"vm {kernel}: {res['error']}")
    check(res["passed"] > 0, f"vm {kernel}: no test passed in the VM")


@test(timeout=2 * VM_TIMEOUT + 60, needs=("qemu",))
def vm_kernel_6_1(ctx):
    """Debian 12's 6.1 kernel in qemu: the short selection passes."""
    vm_run(ctx, "6.1")


@test(timeout=2 * VM_TIMEOUT + 60, needs=("qemu",))
def vm_kernel_6_12(ctx):
    """Debian 12's 6.12 kernel (bookworm security/backports) in qemu: the short selection passes."""
    vm_run(ctx, "6.12")
