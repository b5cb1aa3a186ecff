# nixos2docker as a nixpkgs overlay (flake output `overlays.default`).
#
# Adds attributes and replaces none: `nixos2docker` (the init) and `nixos2docker-systemd` (systemd with the
# patch series for its major version; evaluating it fails when there is none). Replacing `systemd` itself
# would rebuild every package that links libsystemd; the module only needs the patched one as PID 1
# (`systemd.package` in the Docker variant).
final: prev: {
  nixos2docker = final.callPackage ./package.nix { };
  nixos2docker-systemd =
    let
      selected = import ./systemd.nix { inherit (final) lib; } prev.systemd;
    in
    # Stock systemd under this name would be a patched systemd that is not: fail like the module does.
    if selected.patched then
      selected.package
    else
      throw (final.lib.head (selected.runs prev.systemd true).assertions).message;
}
