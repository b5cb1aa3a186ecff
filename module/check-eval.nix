# Evaluates the module with nixpkgs' lib only (no nixpkgs, no NixOS): run by module/check.
#
# NixOS is replaced by stubs: a top-level freeform type accepts every NixOS option the module sets
# (so this does NOT check that those option names exist; they were checked against nixpkgs' sources,
# see module/README.md), a few options are declared where NixOS merges lists, and `pkgs` is a set of
# stub derivations that record their arguments. What it does check: the option declarations, their
# defaults, the extendModules variant and its recursion guard, the image configuration, the init's
# config file and the systemd patch selection. Returns { checks = [ { name; ok; detail; } ]; options; }.
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

  stubPkgs = systemdVersion: {
    systemd = stubSystemd systemdVersion;
    callPackage = _fn: _args: drv "nixos2docker-0.1.0" { };
    writeText = name: text: drv name { inherit text; };
    runCommand = name: _env: script: drv name { inherit script; };
    dockerTools = {
      streamLayeredImage = args: drv "stream-${args.name}" { inherit args; };
      buildLayeredImage = args: drv "${args.name}.tar.gz" { inherit args; };
    };
  };

  nixosStub =
    { systemdVersion }:
    {
      freeformType = types.lazyAttrsOf types.anything;
      options = {
        warnings = mkOption {
          type = types.listOf types.str;
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
      };
      config = {
        _module.args.pkgs = stubPkgs systemdVersion;
        networking.hostName = "Example-Host";
        networking.firewall.allowedTCPPorts = [ 80 ];
        networking.firewall.allowedUDPPorts = [ 53 ];
        security.enableWrappers = true;
        system.build.toplevel = drv "nixos-system-example-host" { };
        # NixOS's own default (mkPackageOption), at the priority of an option default.
        systemd.package = lib.mkOptionDefault (stubSystemd systemdVersion);
      };
    };

  evalWith =
    {
      systemdVersion ? "262.1",
      extra ? { },
    }:
    lib.evalModules {
      modules = [
        ./default.nix
        (nixosStub { inherit systemdVersion; })
        extra
      ];
    };

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

  unpatched = (evalWith { extra.virtualisation.dockerImage.patchSystemd = false; }).config.virtualisation.dockerVariant;
  noSeries = (evalWith { systemdVersion = "999.1"; }).config.virtualisation.dockerVariant;
  custom =
    (evalWith {
      extra.virtualisation.dockerImage = {
        name = "registry.example.com/web";
        tag = "v1";
        healthcheck = false;
        environment.TZ = "UTC";
        initArgs = [ "--log-level=debug" ];
        extraConfig.Labels."org.example.team" = "web";
        extraConfig.WorkingDir = "/root";
      };
    }).config.virtualisation.dockerVariant;
  customImage = custom.system.build.dockerImage;
  viaVariant =
    (evalWith { extra.virtualisation.dockerVariant.virtualisation.dockerImage.tag = "from-variant"; })
    .config;

  # flake.nix, with a stub nixpkgs input: the outputs' structure (values that need NixOS stay unevaluated).
  flake = import ../flake.nix;
  flakeOutputs = flake.outputs {
    self = flakeOutputs;
    nixpkgs = {
      inherit lib;
      legacyPackages = lib.genAttrs [ "x86_64-linux" "aarch64-linux" ] (system: stubPkgs "262.1");
    };
  };
  overlaid =
    let
      prev = stubPkgs "262.1";
      final = prev // flakeOutputs.overlays.default final prev // { inherit lib; };
    in
    final;

  # Everything the variant defines, evaluated (but not its own dockerVariant, which must throw).
  variantForced = builtins.deepSeq (removeAttrs variant [ "virtualisation" ]) (
    builtins.deepSeq vcfg true
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
      && cfg.exposedPorts == [ "80/tcp" "53/udp" ]
      && !cfg.isVariant
    ) "name=${cfg.name} ports=${toString cfg.exposedPorts}")
    (check "variant: evaluates and is marked" (variantForced && vcfg.isVariant) "")
    (check "variant: base configuration unchanged" (
      !(base.config ? boot) && !(base.config ? services)
    ) "the container settings exist only in the variant")
    (check "variant: container settings present" (
      variant.boot.isContainer
      && variant.boot.specialFileSystems == { }
      && variant.boot.nixStoreMountOpts == [ ]
      && !variant.networking.firewall.enable
      && !variant.networking.resolvconf.enable
      && !variant.systemd.units."run-wrappers.mount".enable
      && variant.systemd.services.suid-sgid-wrappers.unitConfig.RequiresMountsFor == [ "/nix/store" ]
      && variant.services.journald.storage == "volatile"
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
    (check "image config: Healthcheck" (
      ociConfig.Healthcheck.Test == [ "CMD" "systemctl" "is-system-running" "--quiet" ]
      && ociConfig.Healthcheck.Interval == 10000000000
      && ociConfig.Healthcheck.StartPeriod == 30000000000
      && ociConfig.Healthcheck.Retries == 3
    ) "")
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
    (check "systemd: unverified version warns" (
      lib.any (w: lib.hasInfix "has not been verified" w) variant.warnings
    ) "")
    (check "systemd: no series -> stock systemd, patched=false, warning" (
      noSeries.systemd.package.patches == [ "nixpkgs-own.patch" ]
      && !(builtins.fromJSON noSeries.system.build.nixos2dockerConfig.text).patched
      && (builtins.fromJSON noSeries.system.build.nixos2dockerConfig.text).systemdVersion == 999
      && lib.any (w: lib.hasInfix "no patch series for systemd 999.1" w) noSeries.warnings
    ) "")
    (check "patchSystemd = false: systemd untouched, patched=false, no warning" (
      unpatched.systemd.package.patches == [ "nixpkgs-own.patch" ]
      && !(builtins.fromJSON unpatched.system.build.nixos2dockerConfig.text).patched
      && unpatched.warnings == [ ]
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
    ) "")
    (check "flake: outputs" (
      lib.attrNames flakeOutputs == [ "apps" "checks" "nixosModules" "overlays" "packages" ]
      && lib.attrNames flakeOutputs.packages == [ "aarch64-linux" "x86_64-linux" ]
      && lib.all (n: lib.hasAttr n flakeOutputs.packages.x86_64-linux) [ "nixos2docker" "example-image" ]
      && lib.attrNames flakeOutputs.checks.x86_64-linux == [ "crate" "docker-boot" ]
      && flakeOutputs.apps.x86_64-linux.demo.type == "app"
      && toString flakeOutputs.nixosModules.default == toString ./.
      && flake.inputs.nixpkgs.url == "github:NixOS/nixpkgs/nixos-unstable"
    ) (toString (lib.attrNames flakeOutputs)))
    (check "flake: overlay adds nixos2docker and the patched systemd, replaces nothing" (
      overlaid.nixos2docker.name == "nixos2docker-0.1.0"
      && lib.length overlaid.nixos2docker-systemd.patches > 1
      && overlaid.systemd.patches == [ "nixpkgs-own.patch" ]
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
in
{
  inherit checks;
  options = optionsMarkdown;
}
