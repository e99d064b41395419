# The outputs of a rendered scenario's flake, from its data:
#
#   outputs = { self, nixpkgs }: import ./modules/scenario/outputs.nix { inherit self nixpkgs; root = ./.; };
{
  self,
  nixpkgs,
  root,
}:
let
  inherit (nixpkgs) lib;
  scenario = import ./. { inherit root; };
  inherit (scenario) data attrsOf;

  forAllSystems = lib.genAttrs data.systems;

  # Phase one: the generic base configuration of each cloud platform
  # (modules/base.nix). No scenario data (addresses, keys, backend), so it
  # evaluates before Terraform has run and is the same for every scenario of
  # this nixpkgs pin. Colmena deploys the full systems over it.
  baseConfigurations = builtins.listToAttrs (
    map (base: {
      inherit (base) name;
      value = lib.nixosSystem {
        modules = [
          ../.
          (../. + "/${base.module}")
          {
            e3.base = {
              enable = true;
              inherit (base) router;
            };
          }
        ];
      };
    }) data.bases
  );
in
{
  # Phase two: one NixOS system per host of the hive (and the base
  # configurations); the platform module sets `nixpkgs.hostPlatform`, so no
  # `system` is passed here.
  nixosConfigurations =
    baseConfigurations
    // attrsOf (
      host:
      lib.nixosSystem {
        specialArgs = {
          e3Scenario = scenario;
          e3Host = host;
        };
        modules = [ ./host.nix ];
      }
    ) data.nodes;

  # The raw Colmena hive (the same as `colmena apply -f hive.nix`); see
  # README.md for the two lines that turn it into `colmenaHive`.
  colmena = import ./hive.nix { inherit nixpkgs root; };

  # Boot images: a cloud platform's base image (the same for every scenario
  # of this nixpkgs pin), a Raspberry Pi's SD card with its full system.
  packages = builtins.foldl' (
    packages: image:
    packages
    // {
      ${image.system} = (packages.${image.system} or { }) // {
        ${image.name} = lib.getAttrFromPath image.path self.nixosConfigurations.${image.configuration};
      };
    }
  ) { } data.images;

  devShells = forAllSystems (system: {
    default = nixpkgs.legacyPackages.${system}.mkShell {
      packages = [ nixpkgs.legacyPackages.${system}.colmena ];
    };
  });

  # The NixOS VM test of this topology (vmtest.nix): `nix flake check`, or
  # `nix build .#checks.x86_64-linux.nat -L` (needs KVM).
  checks = forAllSystems (system: {
    nat = import ./vmtest.nix {
      pkgs = nixpkgs.legacyPackages.${system};
      inherit root;
    };
  });
}
