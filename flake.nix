{
  description = "e3: declarative testbed generator for multiparty-computation experiments";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;

      forAllSystems = lib.genAttrs [
        "x86_64-linux"
        "aarch64-linux"
      ];

      # The bundled scenarios, discovered from scenarios/*.yaml.
      scenarioNames = map (lib.removeSuffix ".yaml") (
        lib.attrNames (
          lib.filterAttrs (name: type: type == "regular" && lib.hasSuffix ".yaml" name) (
            builtins.readDir ./scenarios
          )
        )
      );

      # packages.<system>.scenario-<name>: the rendered directory of a bundled
      # scenario, made by e3 itself (`e3 render <name>`).
      scenarioPackages =
        system:
        let
          pkgs = nixpkgs.legacyPackages.${system};
          e3 = self.packages.${system}.default;
        in
        lib.listToAttrs (
          map (
            name:
            lib.nameValuePair "scenario-${name}" (
              pkgs.runCommand "e3-scenario-${name}" { nativeBuildInputs = [ e3 ]; } ''
                e3 render ${lib.escapeShellArg name} -o rendered
                cp -r rendered $out
              ''
            )
          ) scenarioNames
        );

      # A matrix scenario (`matrix:`, e.g. connectivity-grid) renders one
      # directory per variant; it gets no flake check of its own (its 60 VM
      # tests are `e3 grid`'s job, or built one by one from vmTests below).
      # Told from the file itself, so the check names need no build.
      isMatrix = name: lib.hasInfix "\nmatrix:" ("\n" + builtins.readFile ./scenarios/${name}.yaml);
      singleScenarios = lib.filter (name: !isMatrix name) scenarioNames;
      matrixScenarios = lib.filter isMatrix scenarioNames;

      # checks.<system>.<name>: the NixOS VM test of each bundled scenario, read
      # from its rendered directory (import from derivation: evaluating the
      # check builds e3 and renders the scenario first).
      scenarioChecks =
        system:
        lib.genAttrs singleScenarios (
          name:
          import "${self.packages.${system}."scenario-${name}"}/tests/nat.nix" {
            pkgs = nixpkgs.legacyPackages.${system};
          }
        );

      # legacyPackages.<system>.vmTests.<matrix>.<variant directory>: the VM
      # test of each variant of a matrix scenario, listed by its rendered
      # variants.json (import from derivation, on use only), e.g.
      #   nix build '.#vmTests.connectivity-grid."backend=nebula,nat=easy+hard"'
      matrixVmTests =
        system:
        lib.genAttrs matrixScenarios (
          name:
          let
            rendered = self.packages.${system}."scenario-${name}";
            variants = (lib.importJSON "${rendered}/variants.json").variants;
          in
          lib.listToAttrs (
            map (
              v:
              lib.nameValuePair v.directory (
                import "${rendered}/${v.directory}/tests/nat.nix" { pkgs = nixpkgs.legacyPackages.${system}; }
              )
            ) variants
          )
        );

      # checks.<system>.cargo-test: the Rust test suite, with the tools of its
      # real-tool tests (Nix's parser and evaluator, nixfmt, deadnix, nebula-cert, wg,
      # openssl, python3, pyflakes, mypy). The lab, `nft -c` and `tc` tests need
      # root and skip in the build sandbox; `ci/test` runs them.
      cargoTest =
        system:
        let
          pkgs = nixpkgs.legacyPackages.${system};
        in
        self.packages.${system}.default.overrideAttrs (old: {
          pname = "e3-cargo-test";
          doCheck = true;
          nativeCheckInputs = (old.nativeCheckInputs or [ ]) ++ [
            pkgs.nix
            pkgs.nixfmt
            pkgs.deadnix
            pkgs.nebula
            pkgs.wireguard-tools
            pkgs.openssl
            pkgs.python3
            pkgs.python3Packages.pyflakes
            pkgs.mypy
          ];
        });

      e3For =
        pkgs:
        pkgs.rustPlatform.buildRustPackage {
          pname = "e3";
          version = (lib.importTOML ./generator/Cargo.toml).package.version;

          # The binary embeds scenarios, programs, NixOS modules, Terraform
          # modules and this flake's lock at compile time, so they are part of
          # the build input.
          src = lib.fileset.toSource {
            root = ./.;
            fileset = lib.fileset.unions [
              ./Cargo.toml
              ./Cargo.lock
              ./flake.lock # copied into every rendered flake
              ./generator
              ./bench # a workspace member; not built (default-members = e3)
              ./scenarios
              ./programs
              ./modules
              ./terraform
            ];
          };

          cargoLock.lockFile = ./Cargo.lock;
          # The test suite is checks.<system>.cargo-test; every scenario
          # package builds e3, and need not run it again.
          doCheck = false;

          meta = {
            description = "Declarative testbed generator for multiparty-computation experiments";
            license = with lib.licenses; [
              mit
              asl20
            ];
            mainProgram = "e3";
          };
        };
    in
    {
      packages = forAllSystems (
        system:
        {
          default = e3For nixpkgs.legacyPackages.${system};
        }
        // scenarioPackages system
      );

      apps = forAllSystems (
        system:
        let
          pkgs = nixpkgs.legacyPackages.${system};
          e3 = self.packages.${system}.default;
        in
        {
          default = {
            type = "app";
            program = lib.getExe e3;
            meta.description = "The e3 command line";
          };

          # `nix run .#scenario -- tailscale-3region` == `e3 render tailscale-3region`
          scenario = {
            type = "app";
            program = lib.getExe (
              pkgs.writeShellApplication {
                name = "e3-scenario";
                runtimeInputs = [ e3 ];
                text = ''
                  exec e3 render "$@"
                '';
              }
            );
            meta.description = "Render a scenario (`e3 render`)";
          };
        }
      );

      checks = forAllSystems (system: scenarioChecks system // { cargo-test = cargoTest system; });

      legacyPackages = forAllSystems (system: {
        vmTests = matrixVmTests system;
      });

      devShells = forAllSystems (
        system:
        let
          pkgs = nixpkgs.legacyPackages.${system};
          # HashiCorp Terraform is unfree (BUSL-1.1): allow exactly that package.
          pkgsTerraform = import nixpkgs {
            inherit system;
            config.allowUnfreePredicate = pkg: lib.getName pkg == "terraform";
          };
        in
        {
          # `nix develop .#terraform`: the default shell plus HashiCorp Terraform
          # (built from source: Hydra does not cache unfree packages).
          terraform = self.devShells.${system}.default.overrideAttrs (old: {
            nativeBuildInputs = old.nativeBuildInputs ++ [ pkgsTerraform.terraform ];
          });

          default = pkgs.mkShell {
            packages = with pkgs; [
              # Rust
              cargo
              rustc
              clippy
              rustfmt

              # Nix
              nixfmt
              nil

              # Deployment. Terraform is unfree (BUSL-1.1) in nixpkgs: enabling it
              # would need a second nixpkgs instance with allowUnfreePredicate, and
              # Hydra does not build unfree packages, so every user would compile
              # it. OpenTofu is free, cached, and reads the HCL that e3 renders:
              # run `tofu` where the docs say `terraform`.
              opentofu
              colmena

              # Connectivity backends and the local NAT lab (`e3 sim`)
              nebula
              wireguard-tools
              wireguard-go
              tinc
              nftables
              iproute2
              conntrack-tools
              iperf3

              # MPyC itself is not in nixpkgs; ci/install-deps puts it in .venv
              (python3.withPackages (ps: [ ps.pytest ]))
            ];
          };
        }
      );

      # `nixfmt-rfc-style` is only a deprecated alias of `nixfmt` in 25.11.
      formatter = forAllSystems (system: nixpkgs.legacyPackages.${system}.nixfmt);
    };
}
