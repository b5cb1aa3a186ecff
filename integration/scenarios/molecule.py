"""molecule: examples/molecule/ as a role author runs it — ``molecule test`` (create, converge,
idempotence, verify, destroy) with Molecule's docker driver on the patched Debian image, nothing
privileged.

Molecule, molecule-plugins[docker], ansible-core and ansible (for community.docker) are the pinned
versions of examples/molecule/requirements.txt, installed from PyPI into
``<cache>/molecule/venv-<hash of the file>`` (python3-venv with apt-get where ``python3 -m venv`` is
missing).  Molecule's docker driver talks to the engine under test through DOCKER_HOST (the private
daemon's socket); the containers get ``network_mode: none`` (MOLECULE_NETWORK_MODE) because the private
daemon has no bridge.  The image kind ``sid-patched-molecule`` is sid-patched with python3 (Ansible's
modules run in the container).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess

from harness.images import DEFAULT_PACKAGES, IMAGE_KINDS
from harness.registry import ImageKind, register_image_kind, scenario
from harness.util import HarnessError, log

EXAMPLE = "examples/molecule"
ACTIONS = ("create", "converge", "idempotence", "verify", "destroy")

register_image_kind(ImageKind(
    name="sid-patched-molecule", suite="sid", packages=DEFAULT_PACKAGES + ["python3"],
    systemd=IMAGE_KINDS["sid-patched"].systemd, patched=True,
    description="sid-patched + python3 (Ansible's modules run in the container)"))


def molecule_venv(ctx) -> str:
    req = os.path.join(ctx.repo, EXAMPLE, "requirements.txt")
    key = hashlib.sha256(open(req, "rb").read()).hexdigest()[:12]
    venv = os.path.join(ctx.cache_dir, "molecule", f"venv-{key}")
    if os.path.isfile(os.path.join(venv, ".ok")):
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    os.makedirs(os.path.dirname(venv), exist_ok=True)
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"
    logfile = os.path.join(ctx.cache_dir, "logs", "molecule-venv.log")
    os.makedirs(os.path.dirname(logfile), exist_ok=True)
    with open(logfile, "ab") as lf:
        if subprocess.run([py, "-m", "venv", venv], stdout=lf, stderr=lf).returncode != 0:
            ctx.apt_install(["python3-venv"])
            shutil.rmtree(venv, ignore_errors=True)
            if subprocess.run([py, "-m", "venv", venv], stdout=lf, stderr=lf).returncode != 0:
                raise HarnessError(f"python3 -m venv {venv} failed; see {logfile}")
        log(f"pip install -r {EXAMPLE}/requirements.txt into {venv} (log {logfile})")
        p = subprocess.run([os.path.join(venv, "bin", "pip"), "install", "-q", "-r", req], stdout=lf, stderr=lf,
                           timeout=1800)
        if p.returncode != 0:
            raise HarnessError(f"pip install -r {req} failed; see {logfile}")
    open(os.path.join(venv, ".ok"), "w").close()
    return venv


@scenario("molecule", images=["sid-patched-molecule"], order=107, engines=["docker28"],
          doc="examples/molecule/ in a role: `molecule test` (docker driver, the image as it is, nothing "
              "privileged, DOCKER_HOST = the engine's socket) passes create, converge, idempotence, verify, destroy")
def molecule(ctx, img, r):
    venv = molecule_venv(ctx)
    role = ctx.mkdtemp("n2d-molecule-")
    shutil.copytree(os.path.join(ctx.repo, EXAMPLE), os.path.join(role, "molecule", "default"))
    env = dict(ctx.docker.env)
    if not env.get("DOCKER_HOST"):
        raise HarnessError("the engine has no DOCKER_HOST to give Molecule")
    env.update(PATH=os.path.join(venv, "bin") + os.pathsep + env.get("PATH", ""), MOLECULE_IMAGE=img.tag,
               MOLECULE_NETWORK_MODE="none", ANSIBLE_FORCE_COLOR="0", PY_COLORS="0", ANSIBLE_NOCOLOR="1",
               MOLECULE_NO_LOG="false", HOME=role)
    p = subprocess.run([os.path.join(venv, "bin", "molecule"), "test"], cwd=role, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=1200)
    out = p.stdout
    done = [ln.strip() for ln in out.splitlines() if "] Executed: " in ln or "] Executing" in ln]
    r.evidence("\n".join(done), "molecule test: the actions")
    r.evidence(out[-6000:], "molecule test (end of output)")
    r.exit_code = p.returncode
    r.check("molecule test exits 0", p.returncode == 0, f"exit {p.returncode}")
    for action in ACTIONS:
        line = f"[default > {action}] Executed: Successful"
        r.check(f"{action}: successful", any(line in ln for ln in done),
                next((ln for ln in done if f"[default > {action}] Executed" in ln), "not run"))
    p = ctx.docker.cli(["ps", "-a", "--filter", "name=instance", "--format", "{{.Names}}"], timeout=30, expect=None)
    r.check("destroy removed the instance", "instance" not in p.stdout.split(), p.output().strip() or "none left")
