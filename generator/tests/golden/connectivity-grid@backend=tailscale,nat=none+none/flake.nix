# The pinned flake of the e3 scenario `connectivity-grid@backend=tailscale,nat=none+none`. Rendered by e3: do not edit;
# change the scenario and run `e3 render connectivity-grid@backend=tailscale,nat=none+none` again.
{
  description = "e3 scenario connectivity-grid@backend=tailscale,nat=none+none";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;

      forAllSystems = lib.genAttrs [
        "x86_64-linux"
        "aarch64-linux"
      ];
    in
    {
      # One NixOS system per deployed host; the platform module sets
      # `nixpkgs.hostPlatform`, so no `system` is passed here.
      nixosConfigurations = lib.genAttrs [
        "alice"
        "bob"
      ] (host: lib.nixosSystem { modules = [ ./hosts/${host}.nix ]; });

      # The raw Colmena hive (the same as `colmena apply -f hive.nix`); see
      # README.md for the two lines that turn it into `colmenaHive`.
      colmena = import ./hive.nix { inherit nixpkgs; };

      # Boot images of the hosts whose platform boots from one.
      packages = {
        x86_64-linux = {
          image-alice = self.nixosConfigurations.alice.config.system.build.images.digital-ocean;
          image-bob = self.nixosConfigurations.bob.config.system.build.images.digital-ocean;
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
