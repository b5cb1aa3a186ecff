# nixos2docker: the inner module, added to the Docker variant only (see ./default.nix).
# ./container.nix adapts the system to an unprivileged Docker container, ./image.nix builds the image;
# this file marks the variant and swaps in the patched systemd.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib) mkIf;

  cfg = config.virtualisation.dockerImage;
  systemd = import ./systemd.nix { inherit lib; } pkgs.systemd;
  # Judged on the systemd the image's PID 1 really is: whatever definition of systemd.package won.
  running = systemd.runs config.systemd.package cfg.patchSystemd;
in
{
  imports = [
    ./container.nix
    ./image.nix
  ];

  # Lets the outer module refuse a variant of the variant with a clear message.
  virtualisation.dockerImage.isVariant = true;

  # PID 1 must cope with Docker's read-only cgroup fs; the patch series does that. Normal priority on
  # purpose: a configuration that sets its own systemd.package gets a conflict to resolve (set
  # patchSystemd = false in that case) instead of an image that silently runs unpatched systemd.
  systemd.package = mkIf cfg.patchSystemd systemd.package;

  # PID 1 without a series (none for this major, or systemd.package replaced with mkForce): evaluation
  # fails (the image could not boot on stock Docker), with a message naming the series, the supported
  # channels that carry them and the ways out.
  assertions = running.assertions;

  # Shown when the image is built: a systemd version the harness has not built and booted with its series.
  warnings = running.warnings;
}
