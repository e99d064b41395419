# The pinned flake of the e3 scenario `roaming@backend=tailscale,fault=readdress`. Rendered by e3: do not edit;
# change the scenario and run `e3 render roaming@backend=tailscale,fault=readdress` again.
{
  description = "e3 scenario roaming@backend=tailscale,fault=readdress";

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
        base-digitalocean = lib.nixosSystem {
          modules = [
            ./modules
            ./modules/platforms/digitalocean.nix
            { e3.base.enable = true; }
          ];
        };
      };
    in
    {
      # Phase two: one NixOS system per host of the hive (and the base
      # configurations); the platform module sets `nixpkgs.hostPlatform`, so
      # no `system` is passed here.
      nixosConfigurations = baseConfigurations // lib.genAttrs [
        "alice"
        "bob"
        "alice-router"
      ] (host: lib.nixosSystem { modules = [ ./hosts/${host}.nix ]; });

      # The raw Colmena hive (the same as `colmena apply -f hive.nix`); see
      # README.md for the two lines that turn it into `colmenaHive`.
      colmena = import ./hive.nix { inherit nixpkgs; };

      # Boot images: a cloud platform's base image (the same for every scenario
      # of this nixpkgs pin), a Raspberry Pi's SD card with its full system.
      packages = {
        x86_64-linux = {
          base-image-digitalocean = self.nixosConfigurations.base-digitalocean.config.system.build.images.digital-ocean;
        };
      };

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
