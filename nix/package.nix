# The AkiDB workspace built with crane: dependencies once (cargoArtifacts), then the `akidb`
# binary, clippy (-D warnings), rustfmt and the unit tests as separate derivations.
{ pkgs, craneLib, src, version }:
let
  lib = pkgs.lib;
  # Keep Cargo sources plus the non-Rust files the build reads (proto files, docs for include_str!).
  source = lib.cleanSourceWith {
    src = src;
    filter = path: type:
      (craneLib.filterCargoSources path type)
      || (lib.hasSuffix ".proto" path)
      || (lib.hasInfix "/docs/" path)
      || (lib.hasInfix "/helm/" path);
  };
  common = {
    pname = "akidb";
    inherit version;
    src = source;
    strictDeps = true;
    nativeBuildInputs = [ pkgs.pkg-config pkgs.cmake pkgs.perl ];
    buildInputs = [ ];
    # Tests that need real services run under `cargo xtask test`, not in the sandbox.
    cargoExtraArgs = "--locked -p akidb-server";
  };
  cargoArtifacts = craneLib.buildDepsOnly common;
in
{
  akidb = craneLib.buildPackage (common // {
    inherit cargoArtifacts;
    doCheck = false;
    meta = {
      description = "AkiDB vector database server";
      mainProgram = "akidb";
      license = lib.licenses.asl20;
    };
  });

  clippy = craneLib.cargoClippy (common // {
    inherit cargoArtifacts;
    cargoExtraArgs = "--locked --workspace";
    cargoClippyExtraArgs = "--all-targets -- -D warnings";
  });

  fmt = craneLib.cargoFmt { src = source; pname = "akidb"; inherit version; };

  # Unit tests of the library crates (no network, no external services in the Nix sandbox).
  tests = craneLib.cargoTest (common // {
    inherit cargoArtifacts;
    cargoExtraArgs = "--locked -p akidb-core -p akidb-index";
  });
}
