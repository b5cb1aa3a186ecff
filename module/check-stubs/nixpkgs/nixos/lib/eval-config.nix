# Stands in for nixpkgs' nixos/lib/eval-config.nix in module/check: the stub `pkgs` of
# module/check-eval.nix points `pkgs.path` here, so flake.nix and integration/nixos/ evaluate their
# NixOS systems against the same stub NixOS options as the module.
{
  pkgs,
  modules,
  ...
}:
pkgs.lib.evalModules { modules = modules ++ [ pkgs.nixosStubModule ]; }
