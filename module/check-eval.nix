# Evaluates the module with nixpkgs' lib only (no nixpkgs, no NixOS): run by module/check.
#
# NixOS is replaced by stubs that declare exactly the NixOS options the module sets or reads, typed, as
# recorded in ./nixos-options.json for each supported channel of ./channels.json: an option a channel
# does not declare, or a value of the wrong type, fails evaluation. Where a check needs NixOS's own behaviour, the stub mirrors the real
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
      # Like mkDerivation's: passthru attributes become attributes of the result.
      overrideAttrs =
        f:
        let
          new = f {
            patches = [ "nixpkgs-own.patch" ];
            passthru = { };
          };
        in
        drv "systemd-${version}-nixos2docker" (
          {
            inherit version;
            patches = map toString new.patches;
          }
          // new.passthru or { }
        );
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

  # The NixOS options the module touches, as nixpkgs declares them (./nixos-options.json), typed.
  recorded = (lib.importJSON ./nixos-options.json).options;
  # "26.05" for nixos-26.05; unstable and anything else newer than every release.
  releaseOf = channel: lib.removePrefix "nixos-" (if channel == "nixos-unstable" then "nixos-99.99" else channel);
  declaredIn = channel: o: o.since == null || lib.versionAtLeast (releaseOf channel) (releaseOf o.since);

  # The type vocabulary of nixos-options.json: "bool", "listOf port", "attrsOf unitOption", …
  recordedType =
    text:
    let
      words = lib.splitString " " text;
      rest = lib.concatStringsSep " " (lib.tail words);
      scalar = types.oneOf [ types.bool types.int types.str types.path ];
    in
    {
      bool = types.bool;
      str = types.str;
      nonEmptyStr = types.nonEmptyStr;
      lines = types.lines;
      package = types.package;
      path = types.path;
      port = types.port;
      unspecified = types.unspecified;
      # nixos/lib/systemd-unit-options.nix: a scalar or a list of them.
      unitOption = types.either scalar (types.listOf scalar);
      freeform = types.submodule { freeformType = types.attrsOf types.anything; };
    }.${text} or (
      if lib.head words == "listOf" then
        types.listOf (recordedType rest)
      else if lib.head words == "attrsOf" then
        types.attrsOf (recordedType rest)
      else if lib.head words == "lazyAttrsOf" then
        types.lazyAttrsOf (recordedType rest)
      else if lib.head words == "enum" then
        types.enum (lib.tail words)
      else if text == ''bool or "relaxed"'' then
        types.either types.bool (types.enum [ "relaxed" ])
      else
        throw "module/nixos-options.json: unknown type `${text}'"
    );

  # Declarations from entries: `a.b.<name>.c` becomes a.b = attrsOf (submodule { options.c = …; }).
  declare =
    entries:
    let
      split =
        o:
        let
          parts = lib.splitString "." o.name;
          at = lib.lists.findFirstIndex (p: p == "<name>") null parts;
        in
        if at == null then
          { inherit o parts; }
        else
          {
            inherit o;
            prefix = lib.take at parts;
            inner = o // { name = lib.concatStringsSep "." (lib.drop (at + 1) parts); };
          };
      items = map split entries;
      plain = lib.filter (i: i ? parts) items;
      nested = lib.groupBy (i: lib.concatStringsSep "." i.prefix) (lib.filter (i: i ? prefix) items);
      leaf =
        o:
        let
          type = recordedType o.type;
        in
        mkOption (
          { inherit type; }
          // lib.optionalAttrs (o ? default) { inherit (o) default; }
          // lib.optionalAttrs (!(o ? default) && lib.elem (lib.head (lib.splitString " " o.type)) [ "listOf" ]) { default = [ ]; }
          // lib.optionalAttrs (!(o ? default) && lib.elem (lib.head (lib.splitString " " o.type)) [ "attrsOf" "lazyAttrsOf" ]) { default = { }; }
        );
    in
    lib.foldl' lib.recursiveUpdate { } (
      map (i: lib.setAttrByPath i.parts (leaf i.o)) plain
      ++ lib.mapAttrsToList (
        prefix: group:
        lib.setAttrByPath (lib.splitString "." prefix) (mkOption {
          type = types.attrsOf (types.submodule { options = declare (map (i: i.inner) group); });
          default = { };
        })
      ) nested
    );

  # NixOS as the stubs see it: exactly the recorded declarations of `channel`, plus what the stub's own
  # mirrors and the example system (module/example.nix) need, which the module does not touch.
  nixosStub =
    {
      systemdVersion,
      channel ? "nixos-unstable",
      # services.journald.settings (storage renamed into it), as nixos-options.json records for the
      # channel, unless given.
      journaldSettings ? declaredIn channel (lib.findFirst (o: o.name == "services.journald.settings.Journal") null recorded),
      # Option names left out of the channel's declarations (a channel without them).
      without ? [ ],
    }:
    { config, ... }:
    {
      # nixos/modules/system/boot/systemd/journald.nix since NixOS/nixpkgs#536538 (26.11): `storage`
      # became an alias of settings.Journal.Storage that warns when used. Before it (e.g.
      # e9ab2a06ab44b0bc2f0cb9e1869f8c715a305d81) `storage` was an enum.
      imports = lib.optional journaldSettings (
        lib.mkRenamedOptionModule
          [ "services" "journald" "storage" ]
          [ "services" "journald" "settings" "Journal" "Storage" ]
      );

      options = lib.recursiveUpdate (declare (
        lib.filter (
          o:
          declaredIn channel o
          && !(lib.elem o.name without)
          # The journald pair follows journaldSettings (a test may ask for either).
          && (
            o.optional or false
            -> (if journaldSettings then o.name == "services.journald.settings.Journal" else o.name == "services.journald.storage")
          )
        ) recorded
      )) {
        # Not touched by the module; what the stub's mirrors below define, and module/example.nix.
        networking.domain = mkOption {
          type = types.nullOr types.str;
          default = null;
        };
        environment.variables = mkOption {
          type = types.attrsOf types.anything;
          default = { };
        };
        system.stateVersion = mkOption {
          type = types.str;
          default = "26.11";
        };
        services.nginx = mkOption {
          type = types.submodule { freeformType = types.attrsOf types.anything; };
          default = { };
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
      };
      config = lib.mkMerge [
        {
          _module.args.pkgs = stubPkgs systemdVersion;
          networking.hostName = lib.mkDefault "Example-Host";
          networking.domain = "example.org";
          networking.firewall.allowedTCPPorts = lib.mkDefault [ 80 ];
          networking.firewall.allowedUDPPorts = lib.mkDefault [ 53 ];
          system.nixos.version = lib.mkDefault "26.11.20261201.0000000";
          system.nixos.release = lib.mkDefault "26.11";
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
          # nixos/modules/system/boot/systemd.nix: nss-systemd (the systemd package) is an NSS module.
          system.nssModules = [ config.systemd.package ];
          # nixos/modules/config/nsswitch.nix: NSS modules are loaded only through nscd.
          assertions = [
            {
              assertion = config.system.nssModules != [ ] -> config.services.nscd.enable;
              message = "Loading NSS modules from system.nssModules requires services.nscd.enable being set to true.";
            }
          ];
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
      channel ? "nixos-unstable",
      journaldSettings ? null,
      without ? [ ],
      extra ? { },
    }:
    lib.evalModules {
      modules = [
        ./default.nix
        (nixosStub (
          { inherit systemdVersion channel without; } // lib.optionalAttrs (journaldSettings != null) { inherit journaldSettings; }
        ))
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
      sandboxing = "strict";
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

  # The same for any variant.
  forced =
    v:
    builtins.deepSeq (removeAttrs v [ "virtualisation" "services" ]) (
      builtins.deepSeq (removeAttrs v.services [ "journald" ]) (
        builtins.deepSeq (v.services.journald.settings or { }) (builtins.deepSeq v.virtualisation.dockerImage true)
      )
    );
  fullyEvaluates = v: (builtins.tryEval (forced v && builtins.deepSeq v.system.build.toplevel true)).success;

  channelData = selection.channelData;
  supportedNames = map (c: c.name) channelData.channels;
  eolNames = map (c: c.name) channelData.endOfLife;
  seriesMajors = c: lib.filter (m: lib.elem "v${m}" seriesDirs) c.majors;
  noEolIn = text: lib.all (name: !(lib.hasInfix name text)) eolNames;

  # systemd.package replaced in the configuration (mkForce beats the variant's patched one).
  forcedStock = variantOf { extra.systemd.package = lib.mkForce (stubSystemd "262"); };
  # The same with patchSystemd = false: stock systemd chosen on purpose, no refusal.
  forcedStockOff = variantOf {
    extra.systemd.package = lib.mkForce (stubSystemd "262");
    extra.virtualisation.dockerImage.patchSystemd = false;
  };
  forcedStockConfig = builtins.fromJSON forcedStockOff.system.build.nixos2dockerConfig.text;
  # patchSystemd = false and the overlay's patched systemd set by the configuration itself.
  ownPatched = variantOf {
    extra.systemd.package = lib.mkForce (overlaid "262").nixos2docker-systemd;
    extra.virtualisation.dockerImage.patchSystemd = false;
  };
  forcedStockMessage = lib.concatMapStringsSep "\n" (a: a.message) (
    lib.filter (a: !a.assertion) forcedStock.assertions
  );
  # A patched systemd of another version forced in: judged on that one (pkgs.systemd stays 262).
  forcedPatched = version: variantOf {
    extra.systemd.package = lib.mkForce (import ./systemd.nix { inherit lib; } (stubSystemd version)).package;
  };
  # pkgs.systemd without a series, PID 1 a patched 262 forced in: nothing to refuse.
  forcedPatchedNoSeries = variantOf {
    systemdVersion = "999.1";
    extra.systemd.package = lib.mkForce (import ./systemd.nix { inherit lib; } (stubSystemd "262")).package;
  };
  nscdOff = variantOf { extra.services.nscd.enable = false; };
  etcOverlay = variantOf { extra.system.etc.overlay.enable = true; };
  nixosInit = variantOf { extra.system.nixos-init.enable = true; };
  failedMessages = v: lib.concatMapStringsSep "\n" (a: a.message) (lib.filter (a: !a.assertion) v.assertions);

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
      && cfg.sandboxing == "degrade"
      && cfg.sandboxing == profile.sandboxing
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
      && !base.options.networking.resolvconf.enable.isDefined
      && !base.options.networking.firewall.enable.isDefined
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
        profile = {
          dockerLogs = "all";
          sandboxing = "degrade";
        };
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
      && lib.all (c: lib.hasInfix "${c.name} (${lib.concatStringsSep " or " (seriesMajors c)})" noSeriesMessage) (
        lib.filter (c: seriesMajors c != [ ]) channelData.channels
      )
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
      && ic.profile or null == {
        dockerLogs = "pid1";
        sandboxing = "strict";
      }
    ) "")
    (check "sandboxing: only degrade, strict" (
      !(evaluates (variantOf { extra.virtualisation.dockerImage.sandboxing = "off"; }).system.build.nixos2dockerConfig.text)
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
    (check "channels: only channels supported on the table's date, nixos-26.11 and nixos-unstable among them, each row with its revision or its sources" (
      lib.all (c: c.supportedUntil == "rolling" || c.supportedUntil >= channelData.asOf) channelData.channels
      && lib.all (c: c.supportedUntil < channelData.asOf) channelData.endOfLife
      && lib.elem "nixos-26.11" supportedNames
      && lib.elem "nixos-unstable" supportedNames
      && lib.all (name: !(lib.elem name supportedNames)) eolNames
      && lib.all (c: c.revision != null || (c.unread != "" && c.read != [ ])) channelData.channels
      && lib.all (c: c.majors != [ ]) channelData.channels
    ) (toString supportedNames))
    (check "channels: every supported channel whose systemd major has a series is wired to it (the table and the no-series message)" (
      lib.all (
        c: seriesMajors c != [ ] -> lib.hasInfix "${c.name} (${lib.concatStringsSep " or " (seriesMajors c)})" noSeriesMessage
      ) channelData.channels
      && lib.all (c: lib.any (m: lib.elem m majors) c.majors) (
        lib.filter (c: lib.elem c.name [ "nixos-26.11" "nixos-unstable" ]) channelData.channels
      )
    ) noSeriesMessage)
    (check "systemd: no message names an end-of-life channel" (
      noEolIn noSeriesMessage && noEolIn forcedStockMessage && lib.all noEolIn unverified.warnings
    ) noSeriesMessage)
    (check "systemd: 26.05 (systemd 260, no series) still refuses, with the ways out" (
      let
        v = variantOf { systemdVersion = "260.4"; };
        message = failedMessages v;
      in
      !(evaluates v.system.build.toplevel)
      && lib.hasInfix "no patch series for systemd 260.4" message
      && lib.hasInfix "patchSystemd = false" message
    ) "")
    (check "systemd.package = mkForce <stock 262>: evaluation fails naming systemd.package (the image would boot into exit 15)" (
      !(evaluates forcedStock.system.build.toplevel)
      && lib.hasInfix "systemd.package is systemd 262 without" forcedStockMessage
      && lib.hasInfix "patchSystemd = false" forcedStockMessage
    ) forcedStockMessage)
    (check "the init config's patched flag is that of systemd.package: false for stock 262 forced in, true for the overlay's patched systemd (both with patchSystemd = false)" (
      !forcedStockConfig.patched
      && evaluates forcedStockOff.system.build.toplevel
      && (builtins.fromJSON ownPatched.system.build.nixos2dockerConfig.text).patched
      && evaluates ownPatched.system.build.toplevel
    ) (builtins.toJSON forcedStockConfig))
    (check "systemd.package = mkForce <patched 262.7>: the warning names the systemd PID 1 runs (262.7), not pkgs.systemd (262)" (
      let
        v = forcedPatched "262.7";
      in
      (builtins.fromJSON v.system.build.nixos2dockerConfig.text).patched
      && lib.any (w: lib.hasInfix "systemd 262.7 gets the patch series v262" w) v.warnings
      && evaluates v.system.build.toplevel
    ) (toString (forcedPatched "262.7").warnings))
    (check "pkgs.systemd without a series, PID 1 a patched 262 forced in: no refusal, patched=true" (
      evaluates forcedPatchedNoSeries.system.build.toplevel
      && (builtins.fromJSON forcedPatchedNoSeries.system.build.nixos2dockerConfig.text).patched
    ) (failedMessages forcedPatchedNoSeries))
    (check "nss: nss-systemd stays (nscd on, the systemd package in system.nssModules), so DynamicUser= names resolve" (
      variant.services.nscd.enable
      && lib.elem variant.systemd.package.outPath (map (m: m.outPath or m) variant.system.nssModules)
      && evaluates variant.system.build.toplevel
    ) (toString (map (m: m.name or m) variant.system.nssModules)))
    (check "nss: a configuration that turns nscd off still evaluates, with a warning that DynamicUser= names do not resolve" (
      nscdOff.system.nssModules == [ ]
      && evaluates nscdOff.system.build.toplevel
      && lib.any (w: lib.hasInfix "DynamicUser=" w) nscdOff.warnings
    ) (toString nscdOff.warnings))
    (check "system.etc.overlay and nixos-init: evaluation fails with the fix" (
      !(evaluates etcOverlay.system.build.toplevel)
      && lib.hasInfix "virtualisation.dockerVariant.system.etc.overlay.enable = false" (failedMessages etcOverlay)
      && !(evaluates nixosInit.system.build.toplevel)
      && lib.hasInfix "virtualisation.dockerVariant.system.nixos-init.enable = false" (failedMessages nixosInit)
    ) "")
    (check "options: every option the module touches is declared in every channel it names (module/nixos-options.json, `since`)" (
      let
        missing = lib.concatMap (
          name: map (o: "${o.name} (since ${o.since}) in ${name}") (
            lib.filter (o: !(o.optional or false) && !(declaredIn name o)) recorded
          )
        ) (supportedNames ++ lib.attrNames channels);
      in
      missing == [ ]
    ) (toString (lib.concatMap (
      name: map (o: "${o.name} not in ${name}") (lib.filter (o: !(o.optional or false) && !(declaredIn name o)) recorded)
    ) (supportedNames ++ lib.attrNames channels))))
    (check "options: the module and its image evaluate against exactly the recorded declarations of each supported channel" (
      lib.all (channel: fullyEvaluates (variantOf { inherit channel; })) supportedNames
    ) (toString (lib.filter (channel: !(fullyEvaluates (variantOf { inherit channel; }))) supportedNames)))
    (check "journald per channel: storage on nixos-26.05, settings.Journal.Storage on nixos-26.11 and unstable (NixOS/nixpkgs#536538), no rename warning" (
      (variantOf { channel = "nixos-26.05"; }).services.journald.storage == "volatile"
      && lib.all (
        channel:
        let
          v = variantOf { inherit channel; };
        in
        v.services.journald.settings.Journal.Storage == "volatile" && !(lib.any (w: lib.hasInfix "journald" w) v.warnings)
      ) [ "nixos-26.11" "nixos-unstable" ]
    ) "")
    (check "options: a channel lacking an option the module sets fails evaluation (boot.nixStoreMountOpts before nixos-25.11)" (
      !(fullyEvaluates (variantOf { without = [ "boot.nixStoreMountOpts" ]; }))
      && !(fullyEvaluates (variantOf { channel = "nixos-25.05"; }))
    ) "")
    (check "options: a value of the wrong type fails evaluation (boot.nixStoreMountOpts = [ \"\" ])" (
      !(fullyEvaluates (variantOf { extra.boot.nixStoreMountOpts = lib.mkOverride 10 [ "" ]; }))
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

  # The stubs give the variant only the recorded options; in NixOS it is the whole NixOS configuration.
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
  codes = list: lib.concatMapStringsSep ", " (v: "`${v}`") list;
  harnessText =
    major:
    lib.concatMapStringsSep ", " (v: "`${v.version}` (`${v.kind}`, Debian ${v.suite})") (
      selection.verifiedFor major
    );
  # Where a row was read from: the nixpkgs revision, else the sources it rests on.
  readText =
    c:
    if c.revision != null then
      "NixOS/nixpkgs `${c.revision}`"
    else
      "no nixpkgs revision readable here; "
      + lib.concatMapStringsSep ", " (
        r:
        if r ? commit then
          "nixpkgs `${baseNameOf r.path}` at `${builtins.substring 0 12 r.commit}`"
        else
          let
            parts = lib.splitString "/" (lib.removePrefix "https://github.com/" r.source);
          in
          "[${lib.elemAt parts 0}/${lib.elemAt parts 1}#${lib.last parts}](${r.source})"
      ) c.read;
  channelsTable = lib.concatStringsSep "\n" (
    [
      "| NixOS channel (supported until) | `pkgs.systemd` | patch series | built and booted by the harness (upstream systemd, image kind) | read from |"
      "|---|---|---|---|---|"
    ]
    ++ map (
      c:
      let
        withSeries = lib.filter (m: lib.elem m majors) c.majors;
        series =
          if withSeries == [ ] then
            "none: evaluation fails with the ways out"
          else
            lib.concatMapStringsSep " or " (m: "`patches/v${m}/`") withSeries;
        harness = if withSeries == [ ] then "–" else lib.concatMapStringsSep "; " harnessText withSeries;
      in
      "| `${c.name}` (${c.supportedUntil}) | ${lib.concatMapStringsSep " or " (m: "${m}.x") c.majors} | ${series} | ${harness} | ${readText c} |"
    ) selection.channelData.channels
  );
  seriesTable = lib.concatStringsSep "\n" (
    [
      "| series | built and booted by the harness (upstream systemd, image kind) | supported NixOS channels with this major |"
      "|---|---|---|"
    ]
    ++ map (
      major:
      let
        withMajor = lib.attrNames (lib.filterAttrs (_: ms: lib.elem major ms) channels);
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
