# Chooses the patch series in ../patches for a systemd package and applies it.
#
#   (import ./systemd.nix { inherit lib; }) pkgs.systemd
#     => { package; series; patched; version; major; majors; verified; channels; runs; … }
#   (…).runs config.systemd.package cfg.patchSystemd
#     => { patched; assertions; warnings; }   judged on the systemd PID 1 really runs
#
# The series for systemd NNN.x lives in patches/vNNN/. Its order is the `series` file there (one file
# name per line, `#` starts a comment); without a `series` file the *.patch files are applied in name
# order. Which majors have a series is read from the directories, so a new series needs no change here.
# What the harness proved is patches/versions, the table patches/build and the harness read: every
# version listed there is built with its series and booted by the harness's patched scenarios on an
# image kind of its own (CI fails otherwise), so a version listed there is a verified one. The READMEs'
# version tables are generated from that file and from ./channels.json.
#
# No series for the major version is an assertion, not a warning: the image would run stock systemd,
# which the init refuses to boot on stock Docker.
{ lib }:
let
  patchesRoot = ../patches;

  # The NixOS channels supported today and the systemd majors they carry, each row with what it was read
  # from: ./channels.json (one source for the messages here, the README tables and module/check).
  channelData = lib.importJSON ./channels.json;
  channels = lib.listToAttrs (map (c: lib.nameValuePair c.name c.majors) channelData.channels);

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

  # "nixos-26.11 (261 or 262), nixos-unstable (261 or 262)": the supported channels whose systemd has a
  # series, in the table's order, each with the majors it can carry that have one.
  withSeries = c: lib.filter (m: lib.elem m majors) c.majors;
  channelList = lib.concatMapStringsSep ", " (c: "${c.name} (${lib.concatStringsSep " or " (withSeries c)})") (
    lib.filter (c: withSeries c != [ ]) channelData.channels
  );
in
systemd:
let
  inherit (systemd) version;
  major = lib.versions.major version;
  dir = patchesRoot + "/v${major}";
  hasSeries = lib.elem major majors;
  series = if hasSeries then "v${major}" else null;
  versionsOf = v: map (h: h.version) (verifiedFor (lib.versions.major v));
  seriesText = lib.concatStringsSep ", " majors;
  channelText = if channelList == "" then "none known" else channelList;
  waysOut = ''
    and run the image where stock systemd can manage its cgroups: Docker 28 or later with
    `docker run --security-opt writable-cgroups=true …`, or podman with `--systemd=always`.'';
in
{
  inherit
    version
    major
    majors
    series
    channels
    channelData
    harnessVersions
    verifiedFor
    ;
  # Whether the harness built and booted this version with its series (patches/versions).
  verified = lib.elem version (versionsOf version);
  patched = hasSeries;

  # The patched package carries the series it got (passthru, so it survives overrideAttrs): the mark by
  # which `runs` below tells the systemd PID 1 really runs from any other.
  package =
    if hasSeries then
      systemd.overrideAttrs (old: {
        patches = (old.patches or [ ]) ++ map (file: dir + "/${file}") (seriesFiles dir);
        passthru = (old.passthru or { }) // {
          nixos2dockerSeries = series;
        };
      })
    else
      systemd;

  # What the image's PID 1 is: `running` is the variant's config.systemd.package (whatever definition
  # won, e.g. a user's mkForce), `want` is virtualisation.dockerImage.patchSystemd. The init's
  # "patched" flag, the assertions and the warning are judged on it, never on pkgs.systemd.
  runs =
    running: want:
    let
      runningSeries = running.nixos2dockerSeries or null;
      runningVersions = versionsOf running.version;
    in
    {
      patched = runningSeries != null;
      assertions = lib.optionals want [
        {
          assertion = hasSeries || runningSeries != null;
          message = ''
            nixos2docker: there is no patch series for systemd ${version} (pkgs.systemd, major ${major}), so the
            Docker image would run stock systemd, which cannot be PID 1 on Docker's read-only cgroup fs (the
            init refuses to boot it there, exit 15). nixos2docker has series for systemd ${seriesText}
            (patches/v<major>/); supported NixOS channels with one of those: ${channelText}.
            Either build with a nixpkgs from such a channel, or keep this systemd and set
              virtualisation.dockerImage.patchSystemd = false;
            ${waysOut}'';
        }
        {
          assertion = !hasSeries || runningSeries != null;
          message = ''
            nixos2docker: the Docker variant's systemd.package is systemd ${running.version or "?"} without the
            nixos2docker patch series: a definition of higher priority (e.g. lib.mkForce) replaced the patched
            systemd that patchSystemd puts there, so PID 1 would be stock systemd, which the init refuses to boot
            on Docker's read-only cgroup fs (exit 15). Remove that definition (or build it on
            pkgs.nixos2docker-systemd from overlays.default), or keep it and set
              virtualisation.dockerImage.patchSystemd = false;
            ${waysOut}'';
        }
      ];
      warnings = lib.optional (runningSeries != null && !(lib.elem running.version runningVersions)) ''
        nixos2docker: systemd ${running.version} gets the patch series ${runningSeries}, which the project's harness has built and
        booted with upstream systemd ${
          if runningVersions == [ ] then "(no version yet)" else lib.concatStringsSep ", " runningVersions
        } only (on Debian; nixpkgs' own systemd patches are not part of that build); if the patches do not
        apply or the image does not boot, report the systemd version.'';
    };
}
