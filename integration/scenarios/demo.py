"""The README's main job, `integration/run demo`: what a user sees, end to end, on a stock Docker.

Builds the init and the patched-systemd Debian sid image (cached), then, with ONLY the three --tmpfs flags:
`docker run -d`, `docker exec C nixos2docker wait`, shows `docker logs` (the boot, then a service's own line),
`docker exec C systemctl status`, the doctor
inside the running container, and `docker stop` with its exit code and time. Every step is also a check,
so the demo fails loudly when the product does not work.
"""

from __future__ import annotations

import sys
import time

from harness.docker import BOOTED_STATES
from harness.registry import scenario


def _show(title: str, text: str) -> None:
    print(f"\n--- {title}\n{text.rstrip()}", flush=True)


@scenario("demo", images=["sid-patched"], order=5,
          doc="the README's main job: patched systemd in a stock Docker container with only the 3 --tmpfs "
              "flags, shown as a user sees it (docker logs, docker exec systemctl, doctor, docker stop)")
def demo(ctx, img, r):
    flags = ctx.TMPFS_FLAGS
    _show("docker run -d " + " ".join(flags) + f" {img.tag}", "(no --privileged, no --cap-add, no cgroup mount)")
    c, t0 = ctx.docker.run_detached(img, flags)
    p = ctx.docker.exec(c, ["nixos2docker", "wait"], timeout=120, expect=None)
    r.boot_s = time.monotonic() - t0
    r.check("docker exec C nixos2docker wait → exit 0 (running)", p.returncode == 0, p.output()[-300:])
    _show(f"docker exec C nixos2docker wait (exit {p.returncode}, {r.boot_s:.2f} s after docker run)", p.output())
    _show("docker logs (first 25 lines)", "\n".join(ctx.docker.logs(c, tail=100000).splitlines()[:25]))
    q = ctx.docker.exec(c, ["systemctl", "is-system-running"], timeout=30, expect=None)
    state = q.stdout.strip()
    if state not in BOOTED_STATES:
        r.check("systemd answers a final state", False, q.output()[-300:])
        return
    p = ctx.docker.exec(c, ["systemd-run", "--wait", "--quiet", "--unit", "hello", "/bin/echo",
                            "hello from a service"], timeout=60, expect=None)
    time.sleep(0.5)
    tail = ctx.docker.logs(c, tail=5)
    r.check("docker logs shows a service's own line", p.returncode == 0 and "hello from a service" in tail,
            tail[-300:])
    _show("docker exec C systemd-run --wait -u hello echo hello from a service; docker logs --tail 5", tail)
    p = ctx.docker.exec(c, ["systemctl", "status", "--no-pager", "--lines=0"], timeout=30, expect=None)
    r.check("docker exec C systemctl status (no -e PATH)", p.returncode == 0, p.output()[-300:])
    _show("docker exec C systemctl status --no-pager --lines=0", "\n".join(p.stdout.splitlines()[:12]))
    p = ctx.docker.exec(c, ["nixos2docker", "doctor"], timeout=30, expect=None)
    r.check("doctor next to the running systemd: exit 0", p.returncode == 0, p.output()[-300:])
    _show("docker exec C nixos2docker doctor", p.stdout)
    r.stop_s, r.exit_code = ctx.docker.timed_stop(c)
    r.check("docker stop → exit 0", r.exit_code == 0, f"exit {r.exit_code}")
    _show("docker stop", f"exit code {r.exit_code} after {r.stop_s:.2f} s\n" +
          "\n".join(ctx.docker.logs(c, tail=6).splitlines()))
    sys.stdout.flush()
