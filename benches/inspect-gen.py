#!/usr/bin/env python3
"""Write a docker-archive of about SIZE_MB megabytes (default 1100) to OUT, streaming: LAYERS layer tars, each
with many small files and a few large ones (half random, half repetitive bytes, so gzip has work to do),
a config with the right diff_ids and a manifest.json last, like `docker save` before Docker 25.

usage: inspect-gen.py OUT [SIZE_MB] [LAYERS]
"""
import hashlib, io, json, os, sys, tarfile

out = sys.argv[1]
size_mb = int(sys.argv[2]) if len(sys.argv) > 2 else 1100
nlayers = int(sys.argv[3]) if len(sys.argv) > 3 else 8
per_layer = size_mb * 1024 * 1024 // nlayers
rand = os.urandom(8 << 20)


def chunk(n, salt):
    half = n // 2
    start = (salt * 7919) % (len(rand) - half) if half < len(rand) else 0
    data = (rand[start:start + half] if half < len(rand) else (rand * (half // len(rand) + 1))[:half])
    return data + (b"nixos2docker-bench " * (n // 19 + 1))[: n - half]


class Filler(io.RawIOBase):
    """A file object producing n bytes without holding them."""
    def __init__(self, n, salt):
        self.left, self.salt = n, salt
    def readable(self):
        return True
    def readinto(self, b):
        k = min(len(b), self.left, 1 << 20)
        if k == 0:
            return 0
        b[:k] = chunk(k, self.salt)
        self.salt += 1
        self.left -= k
        return k


def add(tf, name, size, src, mode=0o644, kind=tarfile.REGTYPE, link=""):
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.type, ti.linkname, ti.mtime = size, mode, kind, link, 1
    tf.addfile(ti, src)


tmp = out + ".layer.tmp"
diff_ids, names = [], []
with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as outer:
    for i in range(nlayers):
        with tarfile.open(tmp, "w", format=tarfile.GNU_FORMAT) as lt:
            if i == 0:
                for d in ["usr", "usr/lib", "usr/lib/systemd", "usr/bin", "etc", "tmp"]:
                    add(lt, d, 0, None, 0o755, tarfile.DIRTYPE)
                sd = b"\x7fELF\0libsystemd-shared-262.so\0NIXOS2DOCKER_PATCHED_SYSTEMD=262.1\0" + bytes(200000)
                add(lt, "usr/lib/systemd/systemd", len(sd), io.BytesIO(sd), 0o755)
                add(lt, "sbin/init", 0, None, 0o777, tarfile.SYMTYPE, "../usr/lib/systemd/systemd")
                add(lt, "usr/bin/systemctl", 5, io.BytesIO(b"\x7fELF\0"), 0o755)
            if i == nlayers - 1:
                init = b"\x7fELF\0NIXOS2DOCKER_CONFIG\0" + bytes(100000)
                add(lt, "usr/local/bin/nixos2docker", len(init), io.BytesIO(init), 0o755)
                add(lt, "init", 0, None, 0o777, tarfile.SYMTYPE, "/usr/local/bin/nixos2docker")
            written, f = 0, 0
            small_budget = per_layer // 4
            while written < small_budget:  # many small files
                n = 1024 + (f * 7717) % 15360
                add(lt, f"srv/layer{i}/d{f // 100}/f{f}", n, Filler(n, f))
                written += n + 512
                f += 1
            while written < per_layer:  # a few large ones
                n = min(32 << 20, per_layer - written)
                add(lt, f"srv/layer{i}/big{f}", n, Filler(n, f))
                written += n + 512
                f += 1
        h = hashlib.sha256()
        with open(tmp, "rb") as fh:
            for b in iter(lambda: fh.read(1 << 20), b""):
                h.update(b)
        diff_ids.append("sha256:" + h.hexdigest())
        name = f"{h.hexdigest()}/layer.tar"
        names.append(name)
        with open(tmp, "rb") as fh:
            add(outer, name, os.path.getsize(tmp), fh)
        os.unlink(tmp)
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": ["/init"], "StopSignal": "SIGRTMIN+3",
                   "Env": ["container=docker", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Volumes": {"/run": {}, "/run/lock": {}, "/tmp": {}}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }).encode()
    cname = hashlib.sha256(config).hexdigest() + ".json"
    add(outer, cname, len(config), io.BytesIO(config))
    manifest = json.dumps([{"Config": cname, "RepoTags": ["bench:latest"], "Layers": names}]).encode()
    add(outer, "manifest.json", len(manifest), io.BytesIO(manifest))
print(out, os.path.getsize(out))
