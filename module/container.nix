# nixos2docker: what changes when a NixOS system runs in an unprivileged Docker container
# (no CAP_SYS_ADMIN, no CAP_NET_ADMIN, read-only /sys and cgroup fs, Docker owning network, DNS,
# host name and the mounts of /proc, /dev, /run, /tmp). Part of the Docker variant only.
#
# Priorities: mkForce where the setting cannot work in the container at all (a configuration that turns
# it on would only get a failed unit); mkDefault where it is a sensible default that
# `virtualisation.dockerVariant` may change.
#
# Not here, on purpose: the unit masks, the DisableControllers= of -.slice and the [Manager] settings of
# module/profile.json. The init writes them at every boot under /run (system.control/ and
# system.conf.d/), for NixOS and Debian images alike, and the slice setting only when the cgroup fs is
# read-only, which only the init can know. Baking them in here as well would give them two sources that
# can drift apart; /run/systemd/system.control/ outranks /etc/systemd/system/, so the runtime copy wins
# over anything a configuration defines for those units.
{
  config,
  lib,
  options,
  ...
}:
let
  inherit (lib)
    mkDefault
    mkForce
    mkIf
    mkOverride
    ;

  cfg = config.virtualisation.dockerImage;

  # Where the setuid/setcap wrappers live instead of a tmpfs on /run/wrappers (see below).
  wrapperStore = "/var/lib/nixos2docker/wrappers";
in
{
  # Selects nixpkgs' container profile (container-config.nix): no kernel, initrd, udev or audit.
  boot.isContainer = true;

  # There is no boot loader in an image: the init executes the system's init directly.
  boot.loader.grub.enable = mkForce false;
  # Same reason as above, for configurations that use systemd-boot.
  boot.loader.systemd-boot.enable = mkForce false;

  # Docker mounts /proc, /dev, /dev/pts, /dev/shm and /run; remounting them needs CAP_SYS_ADMIN, so the
  # activation snippet that (re)mounts boot.specialFileSystems must do nothing (the container keeps
  # Docker's mounts; stage 2 mounts them only when /proc is not mounted yet). The list itself stays as
  # NixOS defines it: other modules read it (e.g. services.aesmd asserts on its "/dev" entry). Empty
  # rather than removed: other snippets are ordered after "specialfs" (the wrappers, for one).
  system.activationScripts.specialfs = mkForce "";

  # The bind mount that makes /nix/store read-only needs CAP_SYS_ADMIN; the store is part of the image.
  boot.nixStoreMountOpts = mkForce [ ];

  # Keep the journal in /run/log/journal: `journalctl` works inside, nothing grows in the writable
  # layer of the container. mkDefault: a volume on /var/log/journal plus "persistent" is a valid choice.
  # Newer nixpkgs (2026) has services.journald.settings.Journal, with `storage` a deprecated alias that
  # warns on every evaluation; earlier releases only have `storage`.
  services.journald =
    if options.services.journald ? settings then
      { settings.Journal.Storage = mkDefault "volatile"; }
    else
      { storage = mkDefault "volatile"; };

  # Docker configures the container's interface; dhcpcd would need CAP_NET_ADMIN.
  networking.dhcpcd.enable = mkForce false;
  # Same reason; also covers networking.interfaces.<name>.useDHCP from a hardware configuration.
  networking.useDHCP = mkForce false;
  # systemd-networkd cannot configure links without CAP_NET_ADMIN.
  networking.useNetworkd = mkForce false;
  # Same reason, for configurations that enable networkd directly.
  systemd.network.enable = mkForce false;
  # iptables/nftables need CAP_NET_ADMIN; a failed firewall.service would mark the system degraded.
  # Publish ports with `docker run -p` instead (the allowed ports become the image's ExposedPorts).
  networking.firewall.enable = mkForce false;
  # Same reason, for the nftables backend.
  networking.nftables.enable = mkForce false;

  # Docker bind-mounts /etc/resolv.conf; resolvconf would try to replace it and fail.
  networking.resolvconf.enable = mkForce false;
  # resolved would point /etc/resolv.conf at 127.0.0.53 and bypass Docker's DNS (127.0.0.11 on user
  # networks), so container names would stop resolving.
  services.resolved.enable = mkForce false;
  # Docker bind-mounts /etc/hostname and sets the host name (`--hostname`); NixOS's link cannot replace it.
  environment.etc.hostname.enable = mkForce false;
  # Same reason: the activation snippet runs `hostname NAME`, which fails without CAP_SYS_ADMIN
  # ("Activation script snippet 'hostname' failed" at every boot). Empty, not removed: snippets may
  # be ordered after it.
  system.activationScripts.hostname = mkForce "";
  # Same reason, for `domainname` when networking.domain is set.
  system.activationScripts.domain = mkForce "";
  # Docker bind-mounts /etc/hosts (with the container's own address and `--add-host` entries).
  environment.etc.hosts.enable = mkForce false;

  # The container cannot set the clock (no CAP_SYS_TIME); the host keeps time.
  services.timesyncd.enable = mkDefault false;
  # nscd stays as NixOS sets it (on): NixOS's glibc loads NSS modules only through it, and one of them is
  # nss-systemd (nixpkgs' systemd module puts it in system.nssModules), which resolves the names of
  # DynamicUser= services. Only where a configuration turns nscd off, the module list is emptied (nixpkgs
  # asserts that no NSS module is configured without nscd) and a warning says what is lost.
  system.nssModules = mkIf (!config.services.nscd.enable) (mkForce [ ]);
  warnings = lib.optional (!config.services.nscd.enable) ''
    nixos2docker: services.nscd.enable = false in the Docker variant: without nscd no NSS module can be
    loaded, so nss-systemd is dropped and the user and group names of DynamicUser= services do not
    resolve (`ls -l`, `ps`, and services that look up their own name). Keep nscd on unless that is meant.'';

  # Opt-in NixOS setups whose mounts need CAP_SYS_ADMIN, which a default container lacks: the /etc
  # overlay is mounted at every boot, and nixos-init requires that overlay (nixpkgs'
  # nixos/modules/system/activation/nixos-init.nix asserts it). The image could not finish booting; fail
  # evaluation with the fix instead.
  assertions = [
    {
      assertion = !config.system.etc.overlay.enable;
      message = ''
        nixos2docker: system.etc.overlay.enable = true cannot work in the Docker image: /etc is mounted as
        an overlay at boot, which needs CAP_SYS_ADMIN, and a default container has none. Set
          virtualisation.dockerVariant.system.etc.overlay.enable = false;
        (the image's /etc is then populated by the activation script, as it is without the overlay).'';
    }
    {
      assertion = !config.system.nixos-init.enable;
      message = ''
        nixos2docker: system.nixos-init.enable = true cannot work in the Docker image: nixos-init needs the
        /etc overlay (system.etc.overlay.enable, which nixpkgs asserts for it), and mounting that overlay at
        boot needs CAP_SYS_ADMIN, which a default container lacks. Set
          virtualisation.dockerVariant.system.nixos-init.enable = false;'';
    }
  ];
  # systemd-oomd acts on cgroup pressure and needs a writable cgroup fs; the host's OOM handling applies.
  systemd.oomd.enable = mkDefault false;

  # Nix's build sandbox needs mount and user namespaces the container does not get.
  nix.settings.sandbox = mkDefault false;
  # Without includeNixDB the image's Nix database is empty: every store path, the running system
  # included, is garbage to the collector, so a scheduled `nix-collect-garbage` would delete the system
  # under the running container. With the database it is safe (the system profile is a root).
  nix.gc.automatic = mkIf (!cfg.includeNixDB) (mkForce false);

  # nixpkgs' container profile starts sshd on demand (mkDefault true); its own docker-image.nix turns
  # that off because socket-activated sshd misbehaves in Docker. Above mkDefault, below a user's setting.
  services.openssh.startWhenNeeded = mkOverride 900 false;

  # setuid/setcap wrappers (sudo, passwd, PAM's unix_chkpwd, ping, …). nixpkgs mounts a tmpfs on
  # /run/wrappers, which needs CAP_SYS_ADMIN, and `docker run --tmpfs /run` mounts /run noexec,nosuid,
  # so wrappers written there could not run. Instead the mount unit is masked and /run/wrappers becomes
  # a link to a directory in the container's root fs (exec and setuid allowed); nixpkgs' own service
  # then creates the wrappers there unchanged, replacing the previous boot's set atomically.
  # (mkIf around the whole attribute set: one level down it would still create an empty unit.)
  systemd.units = mkIf config.security.enableWrappers { "run-wrappers.mount".enable = mkForce false; };
  # Same reason as above: prepare the link before the wrappers are written.
  systemd.services.suid-sgid-wrappers = mkIf config.security.enableWrappers {
    # Same reason: no mount to wait for (the masked unit would be skipped anyway; this says it plainly).
    unitConfig.RequiresMountsFor = mkForce [ "/nix/store" ];
    preStart = ''
      mkdir -p ${wrapperStore}
      chmod 0755 ${wrapperStore}
      if [ ! -L /run/wrappers ]; then
        rm -rf /run/wrappers
        ln -s ${wrapperStore} /run/wrappers
      fi
    '';
  };

  # The nixos2docker binary in the system path: `docker exec C nixos2docker doctor` works.
  environment.systemPackages = [ cfg.initPackage ];
}
