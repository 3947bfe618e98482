{
  description = "AkiDB: a vector database with tiered storage (RAM, disk, S3)";

  inputs = {
    nixpkgs.url = "github:nixos/nixpkgs/nixos-25.11";
    crane.url = "github:ipetkov/crane";
  };

  outputs = { self, nixpkgs, crane, ... }:
    let
      # Kept equal to the workspace version by `cargo xtask release` (step 1, bump).
      version = "2.0.0";
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f system nixpkgs.legacyPackages.${system});
      build = system: pkgs: import ./nix/package.nix {
        inherit pkgs version;
        craneLib = crane.mkLib pkgs;
        src = ./.;
      };
    in
    {
      packages = forAllSystems (system: pkgs:
        let akidb = (build system pkgs).akidb;
        in {
          default = akidb;
          akidb = akidb;
          image = import ./nix/image.nix { inherit pkgs akidb version; };
        });

      checks = forAllSystems (system: pkgs:
        let b = build system pkgs;
        in {
          inherit (b) clippy tests fmt;
          akidb = b.akidb;
        });

      devShells = forAllSystems (system: pkgs: {
        default = import ./nix/devshell.nix { inherit pkgs; };
      });

      formatter = forAllSystems (system: pkgs: pkgs.nixpkgs-fmt);
    };
}
