# The pinned flake of the e3 scenario `wireguard-hub`. Rendered by e3: do not edit;
# change the scenario and run `e3 render wireguard-hub` again.
{
  description = "e3 scenario wireguard-hub";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;

      forAllSystems = lib.genAttrs [
        "x86_64-linux"
        "aarch64-linux"
      ];

      # Phase one: the generic base configuration of each cloud platform
      # (modules/base.nix). No scenario data (addresses, keys, backend), so it
      # evaluates before Terraform has run and is the same for every scenario
      # of this nixpkgs pin. Colmena deploys the full systems below over it.
      baseConfigurations = {
        base-hetzner = lib.nixosSystem {
          modules = [
            ./modules
            ./modules/platforms/hetzner.nix
            { e3.base.enable = true; }
          ];
        };
        base-hetzner-router = lib.nixosSystem {
          modules = [
            ./modules
            ./modules/platforms/hetzner.nix
            {
              e3.base.enable = true;
              e3.base.router = true;
            }
          ];
        };
      };
    in
    {
      # Phase two: one NixOS system per host of the hive (and the base
      # configurations); the platform module sets `nixpkgs.hostPlatform`, so
      # no `system` is passed here.
      nixosConfigurations = baseConfigurations // lib.genAttrs [
        "fsn"
        "hel"
        "nbg"
        "hub"
        "fsn-router"
        "hel-router"
        "nbg-carrier"
        "nbg-router"
      ] (host: lib.nixosSystem { modules = [ ./hosts/${host}.nix ]; });

      # The raw Colmena hive (the same as `colmena apply -f hive.nix`); see
      # README.md for the two lines that turn it into `colmenaHive`.
      colmena = import ./hive.nix { inherit nixpkgs; };

      # Boot images: a cloud platform's base image (the same for every scenario
      # of this nixpkgs pin), a Raspberry Pi's SD card with its full system.
      packages = { };

      devShells = forAllSystems (system: {
        default = nixpkgs.legacyPackages.${system}.mkShell {
          packages = [ nixpkgs.legacyPackages.${system}.colmena ];
        };
      });

      # The NixOS VM test of this topology (tests/nat.nix): `nix flake check`,
      # or `nix build .#checks.x86_64-linux.nat -L` (needs KVM).
      checks = forAllSystems (system: {
        nat = import ./tests/nat.nix { pkgs = nixpkgs.legacyPackages.${system}; };
      });
    };
}
