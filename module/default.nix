# nixos2docker: the outer NixOS module.
#
# Import it into any NixOS configuration and `config.system.build.dockerImage` becomes a Docker image of
# that configuration that boots systemd through the nixos2docker init. Like nixpkgs' build-vm.nix, this
# module only declares options and builds a *variant* of the configuration with `extendModules`: the
# container tweaks (./variant.nix) are applied to the variant alone, so the machine the configuration
# describes is never changed by importing this module.
{
  config,
  extendModules,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    literalExpression
    mkDefault
    mkOption
    types
    ;

  cfg = config.virtualisation.dockerImage;
  profile = builtins.fromJSON (builtins.readFile ./profile.json);

  variant = extendModules { modules = [ ./variant.nix ]; };
in
{
  options.virtualisation.dockerVariant = mkOption {
    inherit (variant) type;
    default = { };
    visible = "shallow";
    description = ''
      NixOS configuration applied only to the Docker image built by
      {option}`system.build.dockerImage`, on top of this configuration and the container
      settings of nixos2docker. Any NixOS option can be set here, e.g.
      `virtualisation.dockerVariant.services.nginx.enable = true;`.
    '';
    # The variant imports this module again (extendModules keeps every module), so it has a
    # dockerVariant of its own; building an image of the image is never meant, and an endless chain of
    # variants is the only thing it could produce.
    apply =
      value:
      if cfg.isVariant then
        throw ''
          nixos2docker: `virtualisation.dockerVariant` was used inside the Docker variant itself
          (e.g. `virtualisation.dockerVariant.virtualisation.dockerVariant` or
          `config.virtualisation.dockerVariant` read from a module that runs in the variant).
          Set image-only options directly in `virtualisation.dockerVariant = { … };`; there is no
          variant of the variant.''
      else
        value;
  };

  options.virtualisation.dockerImage = {
    name = mkOption {
      type = types.str;
      default =
        let
          host = lib.toLower config.networking.hostName;
        in
        if host == "" then "nixos" else host;
      defaultText = literalExpression ''
        lib.toLower config.networking.hostName  # "nixos" if the host name is empty
      '';
      example = "registry.example.com/web";
      description = "Name of the image (the repository part of `name:tag`, lower case as Docker requires).";
    };

    tag = mkOption {
      type = types.str;
      default = "latest";
      example = "2024-06-01";
      description = "Tag of the image.";
    };

    maxLayers = mkOption {
      type = types.ints.between 2 125;
      default = 100;
      description = ''
        Maximum number of layers. The most widely shared store paths get a layer each (so images of
        similar configurations share them) and the rest is packed into the last layers; overlayfs
        allows about 128 layers in total, including those of images built on top of this one.
      '';
    };

    extraContents = mkOption {
      type = types.listOf types.package;
      default = [ ];
      example = literalExpression "[ pkgs.cacert ]";
      description = ''
        Packages whose top-level directories are linked into the root of the image (like the
        `contents` of dockerTools), e.g. to provide files outside the NixOS system at fixed paths.
        Packages for the system itself belong in {option}`environment.systemPackages`. Do not add
        packages that carry an `etc/` directory: NixOS manages {file}`/etc` at boot.
      '';
    };

    includeNixDB = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Register the image's store paths in a Nix database inside the image, so that `nix` works in
        the container (building, installing, garbage collection). Without it the store paths are
        unknown to Nix and a garbage collection inside the container would delete the running
        system. Costs build time proportional to the closure.
      '';
    };

    stopSignal = mkOption {
      type = types.str;
      default = profile.image.stopSignal;
      description = ''
        Signal `docker stop` sends to PID 1 (`StopSignal` of the image). `SIGRTMIN+3` asks systemd
        to halt, i.e. to stop all units in order and exit.
      '';
    };

    healthcheck = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Give the image a `HEALTHCHECK` that reports healthy only while the system is `running`
        (a failed unit makes the container unhealthy; so does a boot that has not finished yet,
        after the start period). Its command and timings are those of `image.healthcheck` in
        `module/profile.json`, the same for every image nixos2docker makes.
      '';
    };

    exposedPorts = mkOption {
      type = types.listOf (types.strMatching "[0-9]+(-[0-9]+)?/(tcp|udp|sctp)");
      default =
        let
          fw = config.networking.firewall;
        in
        map (port: "${toString port}/tcp") fw.allowedTCPPorts
        ++ map (port: "${toString port}/udp") fw.allowedUDPPorts;
      defaultText = literalExpression ''
        map (port: "''${toString port}/tcp") config.networking.firewall.allowedTCPPorts
        ++ map (port: "''${toString port}/udp") config.networking.firewall.allowedUDPPorts
      '';
      example = [ "80/tcp" "53/udp" ];
      description = ''
        Ports recorded as `ExposedPorts` in the image (what `docker run -P` publishes). The
        firewall itself is off in the container; its open ports serve as the list of what the
        system offers.
      '';
    };

    environment = mkOption {
      type = types.attrsOf types.str;
      default = { };
      example = {
        TZ = "UTC";
      };
      description = ''
        Variables added to the image's `Env`, over the defaults (`container=docker`, a `PATH` that
        finds NixOS commands in `docker exec`, `NIXOS2DOCKER_CONFIG`). They are seen by
        `docker exec` sessions; the init removes `NIXOS2DOCKER_*` from systemd's environment.
      '';
    };

    extraConfig = mkOption {
      type = types.attrsOf types.anything;
      default = { };
      example = literalExpression ''
        {
          Labels."org.opencontainers.image.source" = "https://example.com/web.git";
          WorkingDir = "/root";
        }
      '';
      description = ''
        Attributes merged into the image configuration (Docker/OCI `config`) after the generated
        ones, recursively for attribute sets (`Labels`, `Volumes`, `ExposedPorts`); a list such
        as `Entrypoint` or `Env` given here replaces the generated one (use
        {option}`virtualisation.dockerImage.environment` for variables).
      '';
    };

    initArgs = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "--log-level=debug" ];
      description = ''
        Arguments the init passes to systemd (recorded as `args` in the init's config file),
        before those given on the `docker run` command line.
      '';
    };

    initPackage = mkOption {
      type = types.package;
      default = pkgs.callPackage ./package.nix { };
      defaultText = literalExpression "pkgs.callPackage <nixos2docker>/module/package.nix { }";
      description = "The nixos2docker package whose binary is the image's entrypoint (`/init`).";
    };

    patchSystemd = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Use systemd with the nixos2docker patch series for its major version (see `patches/`) in
        the image, so that it boots on Docker's read-only cgroup fs. Turn it off to keep the
        configuration's own {option}`systemd.package`; stock systemd needs more than stock
        Docker gives (a writable cgroup fs, or `CAP_SYS_ADMIN` for the init's relay), and
        `docker run --rm IMAGE doctor` says what a run lacks.
      '';
    };

    dockerLogs = mkOption {
      type = types.enum [
        "all"
        "pid1"
        "off"
      ];
      # profile.json's value once it carries the key; "all" is the same default.
      default = profile.dockerLogs or "all";
      defaultText = literalExpression ''"all"'';
      example = "pid1";
      description = ''
        What `docker logs` shows of the running system, written into the init's config file as
        `profile.dockerLogs`:

        - `"all"`: the init's lines, systemd's own messages and everything the journal receives at
          priority `info` or higher (journald forwards to the container's stderr), like a VM's console;
        - `"pid1"`: the init's lines and systemd's own messages (start, stop, failed units), not the
          services' output, which stays in the journal;
        - `"off"`: the init's lines and systemd's messages until journald runs.

        `docker run -e NIXOS2DOCKER_DOCKER_LOGS=all|pid1|off` overrides it for one container.
        `journalctl` inside the container has the complete journal in every case.
      '';
    };

    sandboxing = mkOption {
      type = types.enum [
        "degrade"
        "strict"
      ];
      # profile.json's value; "degrade" is the same default.
      default = profile.sandboxing or "degrade";
      defaultText = literalExpression ''"degrade"'';
      example = "strict";
      description = ''
        What patched systemd does with a unit's sandboxing options that a default container cannot
        give (it has no `CAP_SYS_ADMIN` for the namespaces they need), written into the init's config
        file as `profile.sandboxing`:

        - `"degrade"`: the unit runs without them. Upstream systemd already skips the mount-namespace
          options (`PrivateTmp=`, `ProtectSystem=`, …) silently there; the series also runs units that
          upstream refuses (`PrivateUsers=`, `BindPaths=`, `TemporaryFileSystem=`, the protections
          `DynamicUser=` implies) instead of failing them;
        - `"strict"`: such a unit fails as upstream (217/USER, 226/NAMESPACE).

        Under either policy the loss is named: in the unit's journal, by `nixos2docker doctor` and by
        `nixos2docker wait --json`. `docker run -e NIXOS2DOCKER_SANDBOXING=degrade|strict` overrides it
        for one container. Which option falls in which class: `patches/README.md`, "Sandboxing in a
        default Docker container".
      '';
    };

    isVariant = mkOption {
      type = types.bool;
      default = false;
      internal = true;
      description = "Set by nixos2docker in the Docker variant of a configuration; not for users.";
    };
  };

  config = {
    # The image is the variant's; the variant itself sets it with normal priority, which is what keeps
    # this definition from referring to itself there.
    system.build.dockerImage = mkDefault config.virtualisation.dockerVariant.system.build.dockerImage;
    system.build.dockerImageArchive = mkDefault config.virtualisation.dockerVariant.system.build.dockerImageArchive;
    # The init's config file, so that `nix build …config.system.build.nixos2dockerConfig` works on the
    # configuration itself, not only on its variant.
    system.build.nixos2dockerConfig = mkDefault config.virtualisation.dockerVariant.system.build.nixos2dockerConfig;

    # extendModules cannot be evaluated in the sandbox that builds the NixOS manual (as for build-vm.nix).
    meta.buildDocsInSandbox = false;
  };
}
