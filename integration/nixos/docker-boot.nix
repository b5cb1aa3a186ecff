# VM test: the example image (module/example.nix, nginx on port 80) boots in stock Docker.
#
# Run 1 uses ONLY `--tmpfs /run --tmpfs /run/lock --tmpfs /tmp`: no --privileged, no --cap-add, no cgroup
# mount, no --cgroupns. Run 2 uses no flags at all (the image's Volumes provide /run, /run/lock, /tmp).
# Each run must reach `running` with zero failed units, serve the page, answer `docker exec` without
# `-e PATH`, carry /etc/NIXOS and a system profile that is the running system, show the boot in
# `docker logs` without a failed activation snippet, and stop by itself within `docker stop -t 2` (exit code 0;
# a container still running after 2 s is killed and exits 137). The stop time is printed, not asserted.
{
  pkgs,
  nixosModule,
}:
let
  # The container's system, evaluated with the test's own nixpkgs.
  container = import (pkgs.path + "/nixos/lib/eval-config.nix") {
    system = null;
    inherit pkgs;
    modules = [
      nixosModule
      ../../module/example.nix
    ];
  };

  imageCfg = container.config.virtualisation.dockerVariant.virtualisation.dockerImage;
  image = container.config.system.build.dockerImage;
in
pkgs.testers.runNixOSTest {
  name = "nixos2docker-docker-boot";

  nodes.host = {
    virtualisation.docker.enable = true;
    # The loaded image holds a second copy of the system's closure.
    virtualisation.diskSize = 8192;
    virtualisation.memorySize = 2048;
    environment.systemPackages = [ pkgs.curl ];
  };

  testScript = ''
    import time

    REF = "${imageCfg.name}:${imageCfg.tag}"
    TMPFS = "--tmpfs /run --tmpfs /run/lock --tmpfs /tmp"


    def booted(name):
        # `is-system-running --wait` blocks until the boot has finished, then prints the state; until
        # systemd's bus is up in the container it fails, hence the retry.
        state = host.wait_until_succeeds(
            f"docker exec {name} systemctl is-system-running --wait"
            " | grep -Ex 'running|degraded|maintenance|stopping'",
            timeout=300,
        ).strip()
        failed = host.succeed(
            f"docker exec {name} systemctl list-units --state=failed --no-legend --plain"
        ).strip()
        if state != "running" or failed:
            print(host.execute(f"docker logs {name} 2>&1")[1])
            raise Exception(f"{name}: system is {state!r}; failed units:\n{failed}")


    def serves(name):
        # Per network: Docker 29 (nixpkgs' default) no longer reports a top-level IPAddress in NetworkSettings.
        ip = host.succeed(
            "docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' " + name
        ).split()[0]
        host.wait_until_succeeds(f"curl -sf http://{ip}/ | grep -q nixos2docker", timeout=60)


    def usable(name):
        # The image's PATH finds NixOS commands: no `-e PATH` on `docker exec`.
        host.succeed(f"docker exec {name} systemctl status --no-pager >&2")
        # journald runs (volatile): the journal can be read inside.
        host.succeed(f"docker exec {name} journalctl -b --no-pager -n 5 >&2")
        # setuid wrappers run although /run is noexec,nosuid under --tmpfs: sudo reaches its
        # password prompt, which it does only with an effective uid of 0.
        out = host.fail(f"docker exec -u nobody {name} sudo -n true 2>&1")
        assert "password is required" in out, out
        # What nixos-rebuild inside needs from the image: /etc/NIXOS and the system profile, which
        # points at the running system.
        host.succeed(f"docker exec {name} test -f /etc/NIXOS")
        profile = host.succeed(f"docker exec {name} readlink -f /nix/var/nix/profiles/system").strip()
        current = host.succeed(f"docker exec {name} readlink -f /run/current-system").strip()
        assert profile == current, f"system profile {profile!r} is not the running system {current!r}"


    def logged_boot(name):
        logs = host.succeed(f"docker logs {name} 2>&1")
        assert "starting systemd" in logs, "no NixOS stage-2 output in docker logs"
        assert "Multi-User System" in logs, "no systemd status lines in docker logs"
        # No activation snippet needs what the container lacks (hostname, special mounts).
        assert "Activation script snippet" not in logs, "an activation snippet failed"


    def stops(name):
        start = time.monotonic()
        host.succeed(f"docker stop -t 2 {name}")
        print(f"docker stop {name}: {time.monotonic() - start:.2f} s")
        code = host.succeed(
            "docker inspect -f '{{.State.ExitCode}}' " + name
        ).strip()
        assert code == "0", f"{name} exited with {code} (137: still running after 2 s, killed)"


    host.wait_for_unit("docker.service")
    host.succeed("${image} | docker load")

    with subtest("doctor: the image would boot, with the tmpfs flags and without"):
        host.succeed(f"docker run --rm {TMPFS} {REF} doctor >&2")
        host.succeed(f"docker run --rm {REF} doctor >&2")

    with subtest("run 1: only --tmpfs /run --tmpfs /run/lock --tmpfs /tmp"):
        host.succeed(f"docker run -d --name tmpfs {TMPFS} {REF}")
        booted("tmpfs")
        serves("tmpfs")
        usable("tmpfs")
        logged_boot("tmpfs")
        host.wait_until_succeeds(
            "test \"$(docker inspect -f '{{.State.Health.Status}}' tmpfs)\" = healthy",
            timeout=120,
        )
        print(host.execute("docker exec tmpfs nixos2docker doctor 2>&1")[1])
        stops("tmpfs")

    with subtest("run 2: no flags at all"):
        host.succeed(f"docker run -d --name plain {REF}")
        booted("plain")
        serves("plain")
        usable("plain")
        logged_boot("plain")
        stops("plain")
  '';
}
