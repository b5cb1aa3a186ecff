# nixos2docker: the image of the Docker variant (`config.system.build.dockerImage`).
#
# Layout of the image's root:
#   /init                              -> the nixos2docker binary (the entrypoint; `/init ARGS` boots)
#   /sbin/init                         -> the system's stage-2 init (for `--entrypoint /sbin/init` and tools
#                                         that look for an init; the nixos2docker config names it too)
#   /nix/var/nixos2docker/config.json  -> the init's config file (also named by NIXOS2DOCKER_CONFIG)
#   /etc /run /tmp /var                   empty directories (but /etc/NIXOS); NixOS's activation fills /etc and /var
#   /nix/var/nix/profiles/system       -> system-1-link -> the system (the profile nixos-rebuild updates)
#   /nix/store                            the closure of the system, in layers shared between images
#
# The config file is found through `NIXOS2DOCKER_CONFIG=<store path>` in the image's Env, not at
# /etc/nixos2docker/config.json: /etc belongs to NixOS's activation (and to the /etc overlay where that
# is enabled), while a store path cannot be changed or removed by anything in the container. `docker
# exec` sessions inherit the Env, so `docker exec C nixos2docker doctor` reads the same file.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.virtualisation.dockerImage;
  profile = builtins.fromJSON (builtins.readFile ./profile.json);
  systemd = import ./systemd.nix { inherit lib; } pkgs.systemd;

  toplevel = config.system.build.toplevel;

  # The init's config file (schema: README.md, "Config file"; src/config.rs).
  initConfig = pkgs.writeText "nixos2docker-config.json" (
    builtins.toJSON {
      # Stage 2 runs the activation script (users, /etc, wrappers, /run/current-system), then execs systemd.
      target = "${toplevel}/init";
      # The target is a shell script, so the init cannot look for the patch marker itself. Judged on
      # the package PID 1 really is (systemd.package as evaluated), not on pkgs.systemd.
      patched = (systemd.runs config.systemd.package cfg.patchSystemd).patched;
      systemdVersion = lib.toInt (lib.versions.major config.systemd.package.version);
      args = cfg.initArgs;
      # Top-level keys replacing those of module/profile.json in the init.
      profile = {
        inherit (cfg) dockerLogs sandboxing;
      };
    }
  );

  # Links that give the image its entry points. Being in `contents`, this path also carries the
  # system's closure into the image's Nix database when includeNixDB is set.
  root = pkgs.runCommand "nixos2docker-image-root" { } ''
    mkdir -p $out/sbin $out/nix/var/nixos2docker
    ln -s ${cfg.initPackage}/bin/nixos2docker $out/init
    ln -s ${toplevel}/init $out/sbin/init
    ln -s ${initConfig} $out/nix/var/nixos2docker/config.json
  '';

  nanoseconds = seconds: seconds * 1000000000;

  env =
    profile.image.env
    // {
      NIXOS2DOCKER_CONFIG = "${initConfig}";
    }
    // cfg.environment;

  generatedConfig = {
    Entrypoint = profile.image.entrypoint;
    StopSignal = cfg.stopSignal;
    Env = lib.mapAttrsToList (name: value: "${name}=${value}") env;
    Volumes = lib.genAttrs profile.image.volumes (_: { });
    Labels = {
      "org.opencontainers.image.title" = cfg.name;
      "org.opencontainers.image.description" =
        "NixOS ${config.system.nixos.release} (${config.networking.hostName}) booting systemd through nixos2docker";
      "org.opencontainers.image.version" = config.system.nixos.version;
    }
    // profile.image.labels;
  }
  // lib.optionalAttrs (cfg.exposedPorts != [ ]) {
    ExposedPorts = lib.genAttrs cfg.exposedPorts (_: { });
  }
  // lib.optionalAttrs cfg.healthcheck {
    Healthcheck =
      let
        hc = profile.image.healthcheck;
      in
      {
        Test = hc.test;
        Interval = nanoseconds hc.intervalSeconds;
        Timeout = nanoseconds hc.timeoutSeconds;
        StartPeriod = nanoseconds hc.startPeriodSeconds;
        Retries = hc.retries;
      }
      # How often to probe during the start period (Docker 25 and later), when the profile sets it.
      // lib.optionalAttrs (hc ? startIntervalSeconds) { StartInterval = nanoseconds hc.startIntervalSeconds; };
  };

  imageArgs = {
    inherit (cfg)
      name
      tag
      maxLayers
      includeNixDB
      ;
    contents = [ root ] ++ cfg.extraContents;
    config = lib.recursiveUpdate generatedConfig cfg.extraConfig;
    # Run under fakeroot so the directories belong to root in the layer; relative paths, so no chroot
    # (enableFakechroot) is needed. What nixpkgs' container images also provide for `nixos-rebuild`
    # and `nix` inside: the system profile (generation 1 = this system; `nixos-rebuild switch` adds
    # generations next to it) and /etc/NIXOS, the tag switch-to-configuration looks for (older versions
    # accept nothing else). NixOS's /etc activation leaves files it does not manage alone.
    fakeRootCommands = ''
      mkdir -p etc run tmp var nix/var/nix/profiles
      chmod 0755 etc run var
      chmod 1777 tmp
      touch etc/NIXOS
      ln -s ${toplevel} nix/var/nix/profiles/system-1-link
      ln -s system-1-link nix/var/nix/profiles/system
    '';
    enableFakechroot = false;
  };
in
{
  system.build = {
    # A script that writes the image to stdout: `$(nix build --print-out-paths …) | docker load`.
    # Chosen over a tarball because a NixOS closure is large: the store keeps no second, compressed copy
    # of it, and loading starts without a compression pass.
    dockerImage = pkgs.dockerTools.streamLayeredImage imageArgs;
    # The same image as a .tar.gz (`docker load < result`), for registries and tools that want a file.
    dockerImageArchive = pkgs.dockerTools.buildLayeredImage imageArgs;
    # The init's config file, for inspection (`nix build …config.system.build.nixos2dockerConfig`).
    nixos2dockerConfig = initConfig;
  };
}
