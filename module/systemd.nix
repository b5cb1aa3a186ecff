# Chooses the patch series in ../patches for a systemd package and applies it.
#
#   (import ./systemd.nix { inherit lib; }) pkgs.systemd
#     => { package; series; patched; version; major; majors; verified; assertions; warnings; }
#
# The series for systemd NNN.x lives in patches/vNNN/. Its order is the `series` file there (one file
# name per line, `#` starts a comment); without a `series` file the *.patch files are applied in name
# order. Which majors have a series is read from the directories, so a new series needs no change here.
# What the harness proved and which NixOS channel ships which major is patches/versions.json (the same
# file the READMEs' version tables are generated from).
#
# No series for the major version is an assertion, not a warning: the image would run stock systemd,
# which the init refuses to boot on stock Docker.
{ lib }:
let
  patchesRoot = ../patches;
  versions = lib.importJSON (patchesRoot + "/versions.json");

  isSeriesDir =
    name: type:
    type == "directory" && builtins.match "v[0-9]+" name != null && seriesFiles (patchesRoot + "/${name}") != [ ];

  seriesFiles =
    dir:
    let
      entries = builtins.readDir dir;
      fromSeries = lib.filter (line: line != "" && !lib.hasPrefix "#" line) (
        map lib.trim (lib.splitString "\n" (builtins.readFile (dir + "/series")))
      );
      byName = lib.sort lib.lessThan (
        lib.attrNames (lib.filterAttrs (name: type: type == "regular" && lib.hasSuffix ".patch" name) entries)
      );
    in
    if entries ? series then fromSeries else byName;

  # Majors with a series, newest first: [ "262" "257" ].
  majors = lib.sort (a: b: lib.toInt a > lib.toInt b) (
    map (lib.removePrefix "v") (lib.attrNames (lib.filterAttrs isSeriesDir (builtins.readDir patchesRoot)))
  );

  channelsWith =
    major: lib.attrNames (lib.filterAttrs (_: channelMajor: channelMajor == major) versions.channels);

  channelList =
    lib.concatStringsSep ", " (
      lib.concatMap (major: map (channel: "${channel} (${major})") (channelsWith major)) majors
    );
in
systemd:
let
  inherit (systemd) version;
  major = lib.versions.major version;
  dir = patchesRoot + "/v${major}";
  hasSeries = lib.elem major majors;
  series = if hasSeries then "v${major}" else null;
  info = versions.series.${major} or { };
  # Upstream versions this series was built and booted with by the harness (patches/versions.json).
  verifiedVersions = info.verified or [ ];
  verified = lib.elem version verifiedVersions;
in
{
  inherit
    version
    major
    majors
    series
    verified
    ;
  patched = hasSeries;

  package =
    if hasSeries then
      systemd.overrideAttrs (old: {
        patches = (old.patches or [ ]) ++ map (file: dir + "/${file}") (seriesFiles dir);
      })
    else
      systemd;

  assertions = [
    {
      assertion = hasSeries;
      message = ''
        nixos2docker: there is no patch series for systemd ${version} (pkgs.systemd, major ${major}), so the
        Docker image would run stock systemd, which cannot be PID 1 on Docker's read-only cgroup fs (the
        init refuses to boot it there, exit 15). nixos2docker has series for systemd ${lib.concatStringsSep ", " majors}
        (patches/v<major>/); NixOS channels with one of those: ${if channelList == "" then "none known" else channelList}.
        Either build with a nixpkgs from such a channel, or keep this systemd and set
          virtualisation.dockerImage.patchSystemd = false;
        and run the image where stock systemd can manage its cgroups: Docker 28 or later with
        `docker run --security-opt writable-cgroups=true …`, or podman with `--systemd=always`.'';
    }
  ];

  warnings = lib.optional (hasSeries && !verified) ''
    nixos2docker: systemd ${version} gets the patch series ${series}, which the project's harness has built and
    booted with upstream systemd ${
      if verifiedVersions == [ ] then "(no version yet)" else lib.concatStringsSep ", " verifiedVersions
    } only${lib.optionalString (info ? image) " (${info.image})"}; if the patches do not apply or the image
    does not boot, report the systemd version.'';
}
