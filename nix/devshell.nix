# Everything `cargo xtask test` needs, so `nix develop` gives a working test environment.
{ pkgs }:
let
  python = pkgs.python3.withPackages (ps: [ ps.pyyaml ps.jsonschema ]);
in
pkgs.mkShell {
  packages = [
    pkgs.cargo
    pkgs.rustc
    pkgs.clippy
    pkgs.rustfmt
    pkgs.rust-analyzer
    pkgs.cargo-deny
    pkgs.pkg-config
    pkgs.cmake
    pkgs.perl
    python
    pkgs.kubectl
    pkgs.kubernetes-helm
    pkgs.prometheus # promtool
    pkgs.seaweedfs # weed, the S3 server of the tests
    pkgs.skopeo
    pkgs.podman
    pkgs.qemu
    pkgs.git
    pkgs.nix
  ];
  # helm-python-sdk and kubernetes-validate come from PyPI into target/pydeps (cargo xtask test).
  shellHook = ''
    export AKIDB_TEST_PYTHONPATH="$PWD/target/pydeps"
  '';
}
