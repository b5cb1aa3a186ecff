# Evaluates the module with nixpkgs' lib only (no nixpkgs, no NixOS): run by module/check.
#
# NixOS is replaced by stubs: a top-level freeform type accepts every NixOS option the module sets
# (so this does NOT check that those option names exist; they were checked against nixpkgs' sources,
# see module/README.md). Where a check needs NixOS's own behaviour, the stub mirrors the real
# declaration or definition, and says which nixpkgs file it mirrors (NixOS/nixpkgs, the revisions
# named there). `pkgs` is a set of stub derivations that record their arguments; `pkgs.path` points at
# ./check-stubs/nixpkgs, whose eval-config.nix evaluates against the same stubs, so flake.nix and
# integration/nixos/ evaluate too. Returns { checks = [ { name; ok; detail; } ]; options; tables; }.
{ lib }:
let
  inherit (lib) mkOption types;

  drv =
    name: extra:
    {
      type = "derivation";
      inherit name;
      outPath = "/nix/store/00000000000000000000000000000000-${name}";
    }
    // extra;

  stubSystemd =
    version:
    drv "systemd-${version}" {
      inherit version;
      patches = [ "nixpkgs-own.patch" ];
      overrideAttrs =
        f:
        drv "systemd-${version}-nixos2docker" {
          inherit version;
          patches = map toString (f { patches = [ "nixpkgs-own.patch" ]; }).patches;
        };
    };

  stubPkgs =
    systemdVersion:
    let
      self = {
        inherit lib;
        system = "x86_64-linux";
        stdenv.hostPlatform.system = "x86_64-linux";
        # nixos/lib/eval-config.nix lives below pkgs.path; the stub one evaluates against nixosStub.
        path = ./check-stubs/nixpkgs;
        nixosStubModule = nixosStub { inherit systemdVersion; };
        systemd = stubSystemd systemdVersion;
        curl = drv "curl" { };
        callPackage = _fn: _args: drv "nixos2docker-0.1.0" { };
        writeText = name: text: drv name { inherit text; };
        writeTextDir = path: text: drv (baseNameOf path) { inherit text; };
        writeShellApplication =
          args:
          drv args.name {
            inherit (args) text;
            meta.mainProgram = args.name;
          };
        runCommand = name: _env: script: drv name { inherit script; };
        dockerTools = {
          streamLayeredImage = args: drv "stream-${args.name}" { inherit args; };
          buildLayeredImage = args: drv "${args.name}.tar.gz" { inherit args; };
        };
        testers.runNixOSTest = args: drv "vm-test-run-${args.name}" { inherit args; };
      };
    in
    self;

  nixosStub =
    {
      systemdVersion,
      # Newer nixpkgs (2026): services.journald.settings (storage renamed); false: earlier releases.
      journaldSettings ? true,
    }:
    { config, ... }:
    {
      # nixos/modules/system/boot/systemd/journald.nix (the revision that introduced
      # services.journald.settings.Journal): `storage` became an alias of settings.Journal.Storage that
      # warns when used. Before it (e.g. e9ab2a06ab44b0bc2f0cb9e1869f8c715a305d81) `storage` was an enum.
      imports = lib.optional journaldSettings (
        lib.mkRenamedOptionModule
          [ "services" "journald" "storage" ]
          [ "services" "journald" "settings" "Journal" "Storage" ]
      );

      freeformType = types.lazyAttrsOf types.anything;
      options = {
        warnings = mkOption {
          type = types.listOf types.str;
          default = [ ];
        };
        # Declared by NixOS (nixos/modules/misc/assertions.nix) as a list of { assertion; message; }.
        assertions = mkOption {
          type = types.listOf types.unspecified;
          default = [ ];
        };
        environment.systemPackages = mkOption {
          type = types.listOf types.package;
          default = [ ];
        };
        environment.etc = mkOption {
          type = types.attrsOf types.anything;
          default = { };
        };
        environment.variables = mkOption {
          type = types.attrsOf types.anything;
          default = { };
        };
        system.build = mkOption {
          type = types.lazyAttrsOf types.anything;
          default = { };
        };
        system.nixos.version = mkOption {
          type = types.str;
          default = "26.05.20260101.0000000";
        };
        system.nixos.release = mkOption {
          type = types.str;
          default = "26.05";
        };
        # nixos/modules/system/activation/activation-script.nix
        # (12424157a21e274f43dc9fedb9322883755be138): attrsOf unspecified, snippets by name.
        system.activationScripts = mkOption {
          type = types.attrsOf types.unspecified;
          default = { };
        };
        # Declared by NixOS as a bool, default false; nixos/modules/virtualisation/container-config.nix
        # (e67a6579a72a8b23745514911823a99657cf47f9) keys its settings on it.
        boot.isContainer = mkOption {
          type = types.bool;
          default = false;
        };
        # nixos/modules/tasks/filesystems.nix (the revision whose defaults are commented "Sync mount
        # options with systemd's src/core/mount-setup.c: mount_table"; the search index shows no commit
        # for that text): attrsOf a file-system submodule; the parts read here.
        boot.specialFileSystems = mkOption {
          type = types.attrsOf (
            types.submodule {
              options = {
                fsType = mkOption { type = types.str; };
                options = mkOption {
                  type = types.listOf types.str;
                  default = [ ];
                };
              };
            }
          );
          default = { };
        };
        # nixos/modules/services/networking/ssh/sshd.nix (current revisions; the index shows no commit):
        # bool, default false.
        services.openssh.startWhenNeeded = mkOption {
          type = types.bool;
          default = false;
        };
        # nixos/modules/security/wrappers/default.nix (revisions with systemd.mounts for /run/wrappers and
        # suid-sgid-wrappers.service; the index shows no commit): bool, default true.
        security.enableWrappers = mkOption {
          type = types.bool;
          default = true;
        };
        services.journald =
          if journaldSettings then
            {
              settings.Journal = mkOption {
                type = types.submodule { freeformType = types.attrsOf types.anything; };
                default = { };
              };
            }
          else
            {
              storage = mkOption {
                type = types.enum [ "persistent" "volatile" "auto" "none" ];
                default = "persistent";
              };
            };
      };
      config = lib.mkMerge [
        {
          _module.args.pkgs = stubPkgs systemdVersion;
          networking.hostName = lib.mkDefault "Example-Host";
          networking.domain = "example.org";
          networking.firewall.allowedTCPPorts = lib.mkDefault [ 80 ];
          networking.firewall.allowedUDPPorts = lib.mkDefault [ 53 ];
          # A configuration that collects garbage on a schedule (nixos/modules/services/misc/nix-gc.nix).
          nix.gc.automatic = lib.mkDefault true;
          # nixos/modules/system/activation/top-level.nix (4d225e0b67421175fb7e3b2bbf886098689b1430,
          # failedAssertions / baseSystemAssertWarn): the system fails to evaluate when an assertion does
          # not hold.
          system.build.toplevel =
            let
              failed = map (a: a.message) (lib.filter (a: !a.assertion) config.assertions);
            in
            if failed != [ ] then
              throw "\nFailed assertions:\n${lib.concatMapStringsSep "\n" (m: "- ${m}") failed}"
            else
              drv "nixos-system-example-host" { };
          # NixOS's own default (mkPackageOption), at the priority of an option default.
          systemd.package = lib.mkOptionDefault (stubSystemd systemdVersion);
          # nixos/modules/tasks/network-interfaces.nix (577cb341b4463d094b5180bd5a39c49c0b49e5f6):
          # the host and domain names are set by activation snippets.
          system.activationScripts.hostname = lib.optionalString (config.networking.hostName != "") ''
            hostname "${config.networking.hostName}"
          '';
          system.activationScripts.domain = ''
            domainname "${config.networking.domain}"
          '';
          # nixos/modules/system/activation/activation-script.nix (12424157a21e274f43dc9fedb9322883755be138):
          # remounts every special file system that is already mounted.
          system.activationScripts.specialfs = ''
            specialMount() { mount -t "$4" -o "remount,$3" "$1" "$2"; }
            source earlyMountScript
          '';
          # nixos/modules/tasks/filesystems.nix (the revision named above): the defaults other modules
          # read (e.g. services.aesmd asserts on "/dev".options).
          boot.specialFileSystems = {
            "/proc" = {
              fsType = "proc";
              options = [ "nosuid" "noexec" "nodev" ];
            };
            "/dev" = {
              fsType = "devtmpfs";
              options = [ "nosuid" "strictatime" "mode=755" ];
            };
            "/run/keys" = {
              fsType = "ramfs";
              options = [ "nosuid" "nodev" "mode=750" ];
            };
          };
        }
        # nixos/modules/virtualisation/container-config.nix (e67a6579a72a8b23745514911823a99657cf47f9).
        (lib.mkIf config.boot.isContainer {
          services.openssh.startWhenNeeded = lib.mkDefault true;
          environment.variables.NIX_REMOTE = "daemon";
        })
      ];
    };

  evalWith =
    {
      systemdVersion ? "262",
      journaldSettings ? true,
      extra ? { },
    }:
    lib.evalModules {
      modules = [
        ./default.nix
        (nixosStub { inherit systemdVersion journaldSettings; })
        extra
      ];
    };

  # The module's own reading of patches/versions and its channel table (systemd.nix).
  selection = import ./systemd.nix { inherit lib; } (stubSystemd "0");
  inherit (selection) channels majors;
  # The series directories, read here independently of systemd.nix.
  seriesDirs = lib.attrNames (
    lib.filterAttrs (name: type: type == "directory" && builtins.match "v[0-9]+" name != null) (
      builtins.readDir ../patches
    )
  );

  base = evalWith { };
  cfg = base.config.virtualisation.dockerImage;
  variant = base.config.virtualisation.dockerVariant;
  vcfg = variant.virtualisation.dockerImage;
  image = variant.system.build.dockerImage;
  ociConfig = image.args.config;
  initConfig = builtins.fromJSON variant.system.build.nixos2dockerConfig.text;
  envOf = config: lib.listToAttrs (map (
    kv:
    let
      parts = lib.splitString "=" kv;
    in
    lib.nameValuePair (lib.head parts) (lib.concatStringsSep "=" (lib.tail parts))
  ) config.Env);
  env = envOf ociConfig;
  profile = builtins.fromJSON (builtins.readFile ./profile.json);

  variantOf = args: (evalWith args).config.virtualisation.dockerVariant;
  unpatched = variantOf { extra.virtualisation.dockerImage.patchSystemd = false; };
  noSeries = variantOf { systemdVersion = "999.1"; };
  noSeriesUnpatched = variantOf {
    systemdVersion = "999.1";
    extra.virtualisation.dockerImage.patchSystemd = false;
  };
  unverified = variantOf { systemdVersion = "262.7"; };
  oldJournald = variantOf { journaldSettings = false; };
  noWrappers = variantOf { extra.security.enableWrappers = false; };
  withNixDB = variantOf { extra.virtualisation.dockerImage.includeNixDB = true; };
  sshdOnDemand = variantOf { extra.services.openssh.startWhenNeeded = true; };
  custom = variantOf {
    extra.virtualisation.dockerImage = {
      name = "registry.example.com/web";
      tag = "v1";
      healthcheck = false;
      environment.TZ = "UTC";
      initArgs = [ "--log-level=debug" ];
      dockerLogs = "pid1";
      extraConfig.Labels."org.example.team" = "web";
      extraConfig.WorkingDir = "/root";
    };
  };
  customImage = custom.system.build.dockerImage;
  viaVariant =
    (evalWith { extra.virtualisation.dockerVariant.virtualisation.dockerImage.tag = "from-variant"; })
    .config;

  noSeriesMessage = lib.concatMapStringsSep "\n" (a: a.message) (
    lib.filter (a: !a.assertion) noSeries.assertions
  );
  evaluates = value: (builtins.tryEval (builtins.deepSeq value true)).success;

  # flake.nix, with a stub nixpkgs input: its outputs evaluate against the stubs (pkgs.path).
  flake = import ../flake.nix;
  flakeOutputs = flake.outputs {
    self = flakeOutputs;
    nixpkgs = {
      inherit lib;
      legacyPackages = lib.genAttrs [ "x86_64-linux" "aarch64-linux" ] (system: stubPkgs "262");
    };
  };
  overlaid =
    version:
    let
      prev = stubPkgs version;
      final = prev // flakeOutputs.overlays.default final prev // { inherit lib; };
    in
    final;
  demoText = flakeOutputs.packages.x86_64-linux.demo.text;
  vmTest = flakeOutputs.checks.x86_64-linux.docker-boot.args;
  # Reads a container's address the way Docker 29 still answers (it dropped the top-level field).
  readsAddress =
    text:
    lib.hasInfix "{{range .NetworkSettings.Networks}}{{.IPAddress}}" text
    && !lib.hasInfix (".NetworkSettings." + "IPAddress") text;

  # Everything the variant defines, evaluated (but not its own dockerVariant, which must throw).
  # (Not services.journald.storage either: reading that alias traces "Obsolete option".)
  variantForced = builtins.deepSeq (removeAttrs variant [ "virtualisation" "services" ]) (
    builtins.deepSeq (removeAttrs variant.services [ "journald" ]) (
      builtins.deepSeq variant.services.journald.settings (builtins.deepSeq vcfg true)
    )
  );

  check = name: ok: detail: { inherit name ok detail; };

  checks = [
    (check "base: option defaults" (
      cfg.name == "example-host"
      && cfg.tag == "latest"
      && cfg.maxLayers == 100
      && !cfg.includeNixDB
      && cfg.stopSignal == profile.image.stopSignal
      && cfg.healthcheck
      && cfg.dockerLogs == "all"
      && cfg.exposedPorts == [ "80/tcp" "53/udp" ]
      && !cfg.isVariant
    ) "name=${cfg.name} ports=${toString cfg.exposedPorts}")
    (check "variant: evaluates and is marked" (variantForced && vcfg.isVariant) "")
    (check "variant: base configuration unchanged" (
      !base.config.boot.isContainer
      && !base.config.services.openssh.startWhenNeeded
      && base.config.system.activationScripts.hostname != ""
      && base.config.system.activationScripts.specialfs != ""
      && base.config.nix.gc.automatic
      && !(base.config ? networking && base.config.networking ? resolvconf)
    ) "the container settings exist only in the variant")
    (check "variant: container settings present" (
      variant.boot.isContainer
      && variant.boot.nixStoreMountOpts == [ ]
      && !variant.networking.firewall.enable
      && !variant.networking.resolvconf.enable
      && !variant.systemd.units."run-wrappers.mount".enable
      && variant.systemd.services.suid-sgid-wrappers.unitConfig.RequiresMountsFor == [ "/nix/store" ]
      && lib.elem vcfg.initPackage variant.environment.systemPackages
    ) "")
    (check "variant: no empty root password" (
      !(variant ? users) 
    ) "the module sets nothing under users")
    (check "recursion guard: dockerVariant of the variant throws" (
      !(builtins.tryEval (builtins.deepSeq variant.virtualisation.dockerVariant true)).success
    ) "")
    (check "base system.build.dockerImage is the variant's image" (
      base.config.system.build.dockerImage.name == image.name
      && base.config.system.build.dockerImageArchive.name == "example-host.tar.gz"
    ) image.name)
    (check "base system.build.nixos2dockerConfig is the variant's init config" (
      base.config.system.build ? nixos2dockerConfig
      && base.config.system.build.nixos2dockerConfig.text == variant.system.build.nixos2dockerConfig.text
    ) "")
    (check "dockerVariant definitions reach the image" (
      viaVariant.system.build.dockerImage.args.tag == "from-variant"
      && viaVariant.virtualisation.dockerImage.tag == "latest"
    ) "")
    (check "image: dockerTools arguments" (
      image.args.name == "example-host"
      && image.args.tag == "latest"
      && image.args.maxLayers == 100
      && !image.args.includeNixDB
      && !image.args.enableFakechroot
      && lib.length image.args.contents == 1
      && lib.hasInfix "chmod 1777 tmp" image.args.fakeRootCommands
    ) "")
    (check "image: entry points in the root derivation" (
      let
        script = (lib.head image.args.contents).script;
      in
      lib.hasInfix "nixos2docker-0.1.0/bin/nixos2docker $out/init" script
      && lib.hasInfix "nixos-system-example-host/init $out/sbin/init" script
      && lib.hasInfix "nixos2docker-config.json $out/nix/var/nixos2docker/config.json" script
    ) "")
    (check "image: system profile and /etc/NIXOS for nixos-rebuild inside" (
      let
        cmds = image.args.fakeRootCommands;
      in
      lib.hasInfix "touch etc/NIXOS" cmds
      && lib.hasInfix "ln -s /nix/store/00000000000000000000000000000000-nixos-system-example-host nix/var/nix/profiles/system-1-link" cmds
      && lib.hasInfix "ln -s system-1-link nix/var/nix/profiles/system" cmds
    ) image.args.fakeRootCommands)
    (check "image config: entrypoint, stop signal, volumes" (
      ociConfig.Entrypoint == profile.image.entrypoint
      && ociConfig.StopSignal == "SIGRTMIN+3"
      && lib.attrNames ociConfig.Volumes == lib.sort lib.lessThan profile.image.volumes
      && !(ociConfig ? Cmd)
    ) (builtins.toJSON ociConfig.Entrypoint))
    (check "image config: Env" (
      env.container == "docker"
      && env.PATH == profile.image.env.PATH
      && lib.hasPrefix "/run/wrappers/bin:" env.PATH
      && lib.hasSuffix "-nixos2docker-config.json" env.NIXOS2DOCKER_CONFIG
    ) (builtins.toJSON ociConfig.Env))
    (check "image config: Healthcheck from the profile" (
      let
        hc = profile.image.healthcheck;
      in
      ociConfig.Healthcheck.Test == hc.test
      && ociConfig.Healthcheck.Interval == hc.intervalSeconds * 1000000000
      && ociConfig.Healthcheck.StartPeriod == hc.startPeriodSeconds * 1000000000
      && ociConfig.Healthcheck.Retries == hc.retries
      && (ociConfig.Healthcheck ? StartInterval) == (hc ? startIntervalSeconds)
    ) (builtins.toJSON ociConfig.Healthcheck))
    (check "image config: Labels and ExposedPorts" (
      ociConfig.Labels."org.nixos2docker.systemd" == "true"
      && ociConfig.Labels."org.opencontainers.image.title" == "example-host"
      && ociConfig.Labels ? "org.opencontainers.image.version"
      && ociConfig.ExposedPorts == { "80/tcp" = { }; "53/udp" = { }; }
    ) (builtins.toJSON ociConfig.Labels))
    (check "init config file" (
      initConfig == {
        target = "/nix/store/00000000000000000000000000000000-nixos-system-example-host/init";
        patched = true;
        systemdVersion = 262;
        args = [ ];
        profile.dockerLogs = "all";
      }
    ) (builtins.toJSON initConfig))
    (check "systemd: the v262 series is applied in series order" (
      let
        patches = variant.systemd.package.patches;
        series = lib.filter (l: l != "" && !lib.hasPrefix "#" l) (
          lib.splitString "\n" (builtins.readFile ../patches/v262/series)
        );
      in
      lib.head patches == "nixpkgs-own.patch"
      && map baseNameOf (lib.tail patches) == series
      && lib.length series > 0
    ) (toString (map baseNameOf variant.systemd.package.patches)))
    (check "systemd: a version the harness verified (patches/versions) gives no warning" (
      variant.warnings == [ ] && lib.elem "262" (map (v: v.version) (selection.verifiedFor "262"))
    ) (toString variant.warnings))
    (check "systemd: an unverified version of a major with a series warns, naming what was verified" (
      lib.any (w: lib.hasInfix "systemd 262.7 gets the patch series v262" w && lib.hasInfix "262" w) unverified.warnings
      && lib.length unverified.systemd.package.patches > 1
    ) (toString unverified.warnings))
    (check "systemd: no series for the major -> evaluation of the image fails" (
      !(evaluates noSeries.system.build.dockerImage.args.contents)
      && !(evaluates noSeries.system.build.toplevel)
    ) "")
    (check "systemd: the no-series message names the majors of patches/, their channels and the ways out" (
      lib.hasInfix "no patch series for systemd 999.1" noSeriesMessage
      && lib.all (dir: lib.hasInfix (lib.removePrefix "v" dir) noSeriesMessage) seriesDirs
      && lib.all (
        channel:
        lib.elem "v${channels.${channel}}" seriesDirs
        -> lib.hasInfix "${channel} (${channels.${channel}})" noSeriesMessage
      ) (lib.attrNames channels)
      && lib.hasInfix "patchSystemd = false" noSeriesMessage
      && lib.hasInfix "--security-opt writable-cgroups=true" noSeriesMessage
      && lib.hasInfix "--systemd=always" noSeriesMessage
    ) noSeriesMessage)
    (check "patchSystemd = false: systemd untouched, patched=false, no warning, no assertion" (
      unpatched.systemd.package.patches == [ "nixpkgs-own.patch" ]
      && !(builtins.fromJSON unpatched.system.build.nixos2dockerConfig.text).patched
      && unpatched.warnings == [ ]
      && evaluates noSeriesUnpatched.system.build.toplevel
      && (builtins.fromJSON noSeriesUnpatched.system.build.nixos2dockerConfig.text).systemdVersion == 999
    ) "")
    (check "patches/versions: every series directory has a harness version, every version a series" (
      let
        harnessMajors = lib.unique (map (v: "v${lib.versions.major v.version}") selection.harnessVersions);
      in
      lib.sort lib.lessThan harnessMajors == lib.sort lib.lessThan seriesDirs
    ) "series directories: ${toString seriesDirs}; versions: ${toString (map (v: v.version) selection.harnessVersions)}")
    (check "journald: volatile through settings.Journal where nixpkgs has it, without a warning" (
      variant.services.journald.settings.Journal.Storage == "volatile"
      && !(lib.any (w: lib.hasInfix "journald" w) variant.warnings)
    ) (toString variant.warnings))
    (check "journald: volatile through storage on nixpkgs before settings.Journal" (
      oldJournald.services.journald.storage == "volatile"
    ) "")
    (check "activation: no hostname/domainname (Docker sets them; needs CAP_SYS_ADMIN)" (
      variant.system.activationScripts.hostname == ""
      && variant.system.activationScripts.domain == ""
    ) variant.system.activationScripts.hostname)
    (check "special file systems: declared as NixOS defines them, never remounted" (
      variant.boot.specialFileSystems ? "/dev"
      && variant.boot.specialFileSystems."/dev".options == base.config.boot.specialFileSystems."/dev".options
      && variant.system.activationScripts.specialfs == ""
    ) "")
    (check "wrappers off: no run-wrappers.mount unit at all" (
      !(noWrappers.systemd.units or { } ? "run-wrappers.mount")
      && !(noWrappers.systemd.services or { } ? suid-sgid-wrappers)
    ) (toString (lib.attrNames (noWrappers.systemd.units or { }))))
    (check "sshd: not socket-activated by default, a configuration may still choose it" (
      !variant.services.openssh.startWhenNeeded && sshdOnDemand.services.openssh.startWhenNeeded
    ) "")
    (check "nix: no scheduled garbage collection without a Nix database" (
      !variant.nix.gc.automatic && withNixDB.nix.gc.automatic && withNixDB.system.build.dockerImage.args.includeNixDB
    ) "")
    (check "options reach the image" (
      let
        c = customImage.args.config;
        e = envOf c;
        ic = builtins.fromJSON custom.system.build.nixos2dockerConfig.text;
      in
      customImage.args.name == "registry.example.com/web"
      && customImage.args.tag == "v1"
      && !(c ? Healthcheck)
      && e.TZ == "UTC"
      && e ? NIXOS2DOCKER_CONFIG
      && c.Labels."org.example.team" == "web"
      && c.Labels."org.nixos2docker.systemd" == "true"
      && c.WorkingDir == "/root"
      && ic.args == [ "--log-level=debug" ]
      && ic.profile or null == { dockerLogs = "pid1"; }
    ) "")
    (check "dockerLogs: only all, pid1, off" (
      !(evaluates (variantOf { extra.virtualisation.dockerImage.dockerLogs = "journal"; }).system.build.nixos2dockerConfig.text)
    ) "")
    (check "flake: outputs" (
      lib.attrNames flakeOutputs == [ "apps" "checks" "nixosModules" "overlays" "packages" ]
      && lib.attrNames flakeOutputs.packages == [ "aarch64-linux" "x86_64-linux" ]
      && lib.all (n: lib.hasAttr n flakeOutputs.packages.x86_64-linux) [ "nixos2docker" "example-image" "demo" ]
      && lib.attrNames flakeOutputs.checks.x86_64-linux == [ "crate" "docker-boot" ]
      && flakeOutputs.apps.x86_64-linux.demo.type == "app"
      && toString flakeOutputs.nixosModules.default == toString ./.
      && flake.inputs.nixpkgs.url == "github:NixOS/nixpkgs/nixos-unstable"
    ) (toString (lib.attrNames flakeOutputs)))
    (check "flake: example image evaluates (module/example.nix through eval-config)" (
      flakeOutputs.packages.x86_64-linux.example-image.args.name == "nixos2docker-example"
      && lib.hasInfix "nixos2docker-example:latest" demoText
    ) flakeOutputs.packages.x86_64-linux.example-image.name)
    (check "flake demo and VM test read the address from .NetworkSettings.Networks (Docker 29)" (
      readsAddress demoText && readsAddress vmTest.testScript
    ) "")
    (check "flake: overlay adds nixos2docker and the patched systemd, replaces nothing" (
      (overlaid "262").nixos2docker.name == "nixos2docker-0.1.0"
      && lib.length (overlaid "262").nixos2docker-systemd.patches > 1
      && (overlaid "262").systemd.patches == [ "nixpkgs-own.patch" ]
      && !(evaluates (overlaid "999.1").nixos2docker-systemd)
    ) "")
  ];

  # Option documentation (Markdown), from the evaluated declarations.
  docList = lib.filter (
    opt:
    (lib.hasPrefix "virtualisation.docker" opt.name) && !opt.internal && opt.visible
  ) (lib.optionAttrSetToDocList base.options);

  render =
    value:
    if value ? _type && value._type == "literalExpression" then
      value.text
    else if value ? _type && value._type == "literalMD" then
      value.text
    else
      lib.generators.toPretty { } value;

  code =
    text:
    if lib.hasInfix "\n" (lib.trim text) then
      "\n\n```nix\n${lib.trim text}\n```\n"
    else
      " `${lib.trim text}`\n";

  # NixOS documentation roles ({option}`x`) read as plain code in a README.
  plain = lib.replaceStrings [ "{option}`" "{file}`" "{command}`" ] [ "`" "`" "`" ];

  # The stubs give the variant a freeform type; in NixOS it is the whole NixOS configuration.
  typeOf =
    opt: if opt.name == "virtualisation.dockerVariant" then "NixOS configuration (submodule)" else opt.type;

  optionsMarkdown = lib.concatMapStringsSep "\n" (
    opt:
    lib.concatStrings [
      "### `${opt.name}`\n\n"
      "${plain (lib.trim opt.description)}\n\n"
      "*Type:* ${typeOf opt}\n\n"
      "*Default:*${if opt ? default then code (render opt.default) else " none\n"}"
      (lib.optionalString (opt ? example) "\n*Example:*${code (render opt.example)}")
    ]
  ) docList;
  # The version tables of README.md and patches/README.md, from patches/versions, the series
  # directories and the channel table, through the module's own selection (systemd.nix).
  byMajorDesc = lib.sort (a: b: lib.toInt channels.${a} > lib.toInt channels.${b});
  codes = list: lib.concatMapStringsSep ", " (v: "`${v}`") list;
  harnessText =
    major:
    lib.concatMapStringsSep ", " (v: "`${v.version}` (`${v.kind}`, Debian ${v.suite})") (
      selection.verifiedFor major
    );
  channelsTable = lib.concatStringsSep "\n" (
    [
      "| NixOS channel | `pkgs.systemd` | patch series | built and booted by the harness (upstream systemd, image kind) |"
      "|---|---|---|---|"
    ]
    ++ map (
      channel:
      let
        major = channels.${channel};
      in
      if lib.elem major majors then
        "| `${channel}` | ${major}.x | `patches/v${major}/` | ${harnessText major} |"
      else
        "| `${channel}` | ${major}.x | none: evaluation fails with the ways out | – |"
    ) (byMajorDesc (lib.attrNames channels))
  );
  seriesTable = lib.concatStringsSep "\n" (
    [
      "| series | built and booted by the harness (upstream systemd, image kind) | NixOS channels with this major |"
      "|---|---|---|"
    ]
    ++ map (
      major:
      let
        withMajor = lib.attrNames (lib.filterAttrs (_: m: m == major) channels);
      in
      "| `v${major}/` | ${harnessText major} | ${if withMajor == [ ] then "–" else codes withMajor} |"
    ) majors
  );
in
{
  inherit checks;
  options = optionsMarkdown;
  tables = {
    channels = channelsTable;
    series = seriesTable;
  };
}
