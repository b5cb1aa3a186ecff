# Chooses the patch series in ../patches for a systemd package and applies it.
#
#   (import ./systemd.nix { inherit lib; }) pkgs.systemd
#     => { package; series; patched; version; major; warnings; }
#
# The series for systemd NNN.x lives in patches/vNNN/. Its order is the `series` file there (one file
# name per line, `#` starts a comment); without a `series` file the *.patch files are applied in name
# order. When no series exists for the major version the package is returned unpatched (the image then
# runs stock systemd, which needs more than stock Docker gives; the init's doctor tells what).
{ lib }:
let
  patchesRoot = ../patches;

  # Versions of nixpkgs' systemd (exact `version` strings) that have been built with their series and
  # booted in Docker by the integration/nixos tests. Any other version still gets the series of its
  # major version, with a warning. Nothing has been verified yet: Nix cannot build on the project's
  # machines, so this list is filled from `nix flake check` runs elsewhere.
  verifiedVersions = [ ];

  seriesFiles =
    dir:
    let
      entries = builtins.readDir dir;
      seriesFile = dir + "/series";
      fromSeries = lib.filter (line: line != "" && !lib.hasPrefix "#" line) (
        map lib.trim (lib.splitString "\n" (builtins.readFile seriesFile))
      );
      byName = lib.sort lib.lessThan (
        lib.attrNames (lib.filterAttrs (name: type: type == "regular" && lib.hasSuffix ".patch" name) entries)
      );
    in
    if entries ? series then fromSeries else byName;
in
systemd:
let
  inherit (systemd) version;
  major = lib.versions.major version;
  dir = patchesRoot + "/v${major}";
  files = if builtins.pathExists dir then seriesFiles dir else [ ];
  series = if files == [ ] then null else "v${major}";
  verified = lib.elem version verifiedVersions;
in
{
  inherit version major series;
  patched = series != null;

  package =
    if series == null then
      systemd
    else
      systemd.overrideAttrs (old: {
        patches = (old.patches or [ ]) ++ map (file: dir + "/${file}") files;
      });

  warnings =
    if series == null then
      [
        ''
          nixos2docker: no patch series for systemd ${version} (expected patches/v${major}/); the Docker image
          uses stock systemd, which needs more than stock Docker gives (a writable cgroup fs, or
          CAP_SYS_ADMIN for the init's relay). `docker run --rm IMAGE doctor` tells what a run lacks.''
      ]
    else if !verified then
      [
        ''
          nixos2docker: systemd ${version} with patch series ${series} has not been verified by the project
          (built and booted by integration/nixos); if the patches do not apply or the image does not boot,
          report the systemd version.''
      ]
    else
      [ ];
}
