# Chooses the patch series in ../patches for a systemd package and applies it.
#
#   (import ./systemd.nix { inherit lib; }) pkgs.systemd
#     => { package; series; patched; version; major; majors; verified; assertions; warnings; }
#
# The series for systemd NNN.x lives in patches/vNNN/. Its order is the `series` file there (one file
# name per line, `#` starts a comment); without a `series` file the *.patch files are applied in name
# order. Which majors have a series is read from the directories, so a new series needs no change here.
# What the harness proved is patches/versions, the table patches/build and the harness read: every
# version listed there is built with its series and booted by the harness's patched scenarios on an
# image kind of its own (CI fails otherwise), so a version listed there is a verified one. The READMEs' version tables are generated
# from that file and from `channels` below.
#
# No series for the major version is an assertion, not a warning: the image would run stock systemd,
# which the init refuses to boot on stock Docker.
{ lib }:
let
  patchesRoot = ../patches;

  # Major version of pkgs.systemd per NixOS channel (nixpkgs' pkgs/os-specific/linux/systemd), for the
  # assertion's message and the README's table. Update it when a channel moves to a new major.
  channels = {
    "nixos-unstable" = "262";
    "nixos-26.05" = "260";
    "nixos-25.11" = "258";
    "nixos-25.05" = "257";
  };

  # patches/versions: `version sha256 suite kind` per line, `#` comments.
  harnessVersions = map (
    line:
    let
      cols = lib.filter (col: lib.isString col && col != "") (builtins.split "[[:space:]]+" line);
    in
    {
      version = lib.elemAt cols 0;
      suite = lib.elemAt cols 2;
      kind = lib.elemAt cols 3;
    }
  ) (
    lib.filter (line: line != "" && !lib.hasPrefix "#" line) (
      map lib.trim (lib.splitString "\n" (builtins.readFile (patchesRoot + "/versions")))
    )
  );
  verifiedFor = major: lib.filter (v: lib.versions.major v.version == major) harnessVersions;

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

  channelsWith = major: lib.attrNames (lib.filterAttrs (_: channelMajor: channelMajor == major) channels);

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
  # Upstream versions this series was built and booted with by the harness (patches/versions).
  harness = verifiedFor major;
  verifiedVersions = map (v: v.version) harness;
  verified = lib.elem version verifiedVersions;
in
{
  inherit
    version
    major
    majors
    series
    verified
    channels
    harnessVersions
    verifiedFor
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
    } only (on Debian; nixpkgs' own systemd patches are not part of that build); if the patches do not
    apply or the image does not boot, report the systemd version.'';
}
