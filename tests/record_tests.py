# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""Recordings: the reader and replay path under the fuzzer.

The unit tests (build/tests/test_record) cover the cases we thought of;
this runs libFuzzer (ASan, UBSan) over the reader and replay from the
committed seeds for a bounded time, for the ones we did not.
"""
import os
import re
import shutil
import subprocess

from harness import test, check, Fail, Skip
import harness as h

SEEDS = os.path.join(h.HERE, "fuzz", "corpus")
FUZZ_SECONDS = 30


@test(timeout=FUZZ_SECONDS + 60)
def fuzz_record_reader(ctx):
    """bounded libFuzzer run over the recording reader and replay"""
    binary = os.path.join(ctx.build, "tests", "fuzz_record")
    if not os.path.exists(binary):
        raise Fail(f"{binary} was not built (make fuzz-build; it needs libfuzzer-14-dev)")
    check(os.path.isdir(SEEDS) and os.listdir(SEEDS), f"no seed corpus in {SEEDS}")
    # the fuzzer adds to its first corpus directory: a copy, not the seeds
    corpus = ctx.path("corpus")
    shutil.copytree(SEEDS, corpus)
    artifacts = ctx.path("artifacts") + "/"
    os.makedirs(artifacts)
    argv = [binary, f"-max_total_time={FUZZ_SECONDS}", "-max_len=32768",
            "-timeout=10", "-rss_limit_mb=2048", f"-artifact_prefix={artifacts}", corpus]
    ctx.log(" ".join(argv))
    try:
        r = subprocess.run(argv, capture_output=True, text=True, errors="replace",
                           timeout=ctx.bound(FUZZ_SECONDS + 45), start_new_session=True)
    except subprocess.TimeoutExpired:
        raise Fail(f"the fuzzer did not stop after {FUZZ_SECONDS}s") from None
    lines = r.stderr.splitlines()
    done = [l for l in lines if re.match(r"#\d+\s+DONE", l)]
    for l in done + [l for l in lines if l.startswith("Done ")]:
        ctx.log(l)
    crashes = sorted(os.listdir(artifacts))
    if r.returncode or crashes:
        report = [l for l in lines if re.search(r"ERROR|SUMMARY|runtime error|==\d+==", l)]
        inputs = ", ".join(artifacts + c for c in crashes) or "none saved"
        raise Fail(f"the fuzzer found a crash (status {r.returncode}); input: {inputs}\n" +
                   "\n".join(report[:20]))
    check(done, "the fuzzer printed no DONE line:\n" + "\n".join(lines[-10:]))
