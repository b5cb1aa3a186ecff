# The nixos2docker crate (the PID-1 preamble, doctor, capture and inspect), built from Cargo.lock.
{
  lib,
  rustPlatform,
}:
let
  inherit (lib) fileset;

  root = ../.;
  cargoToml = lib.importTOML ../Cargo.toml;
in
rustPlatform.buildRustPackage {
  pname = cargoToml.package.name;
  inherit (cargoToml.package) version;

  # Only what cargo reads: a change to the module, the harness or the docs does not rebuild the crate.
  # module/profile.json is embedded with include_str!; tests/ holds the fixtures the unit tests load.
  src = fileset.toSource {
    inherit root;
    fileset = fileset.unions [
      ../Cargo.toml
      ../Cargo.lock
      ../src
      ./profile.json
      (fileset.maybeMissing ../build.rs)
      (fileset.maybeMissing ../tests)
      (fileset.maybeMissing ../benches)
      (fileset.maybeMissing ../examples)
    ];
  };

  cargoLock.lockFile = ../Cargo.lock;

  meta = {
    description = cargoToml.package.description;
    license = lib.licenses.mit;
    mainProgram = "nixos2docker";
    platforms = lib.platforms.linux;
  };
}
