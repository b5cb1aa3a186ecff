# NixOS VM tests of the module, run by `nix flake check` (flake output checks.<system>.*).
#
#   import ./integration/nixos { inherit pkgs; nixosModule = ./module; }
#     => { docker-boot = <runNixOSTest derivation>; }
{
  pkgs,
  nixosModule,
}:
{
  docker-boot = import ./docker-boot.nix { inherit pkgs nixosModule; };
}
