# The MPyC programs of e3 (the `programs/` directory next to `modules/`),
# each wrapped as a command `e3-<name>` that runs it with a Python that has
# MPyC, gmpy2 and numpy:
#
#   e3-secure-sum -P 10.9.0.1:11365 -P 10.9.0.2:11365 -I 0 --no-log
#
# `passthru.mkRunner` builds `e3-run`, the same with the party list, index
# and arguments of one host baked in (used by modules/party.nix).
{
  lib,
  stdenvNoCC,
  makeWrapper,
  python3,
  writeShellApplication,
  programsDir ? ../../programs,
}:

let
  isProgram = name: type: type == "regular" && lib.hasSuffix ".py" name;

  # Program names, e.g. [ "millionaires" "rounds" "secure-sum" ].
  programs = map (lib.removeSuffix ".py") (
    lib.attrNames (lib.filterAttrs isProgram (builtins.readDir programsDir))
  );

  pythonEnv = python3.withPackages (ps: [
    (ps.callPackage ./mpyc.nix { })
    ps.gmpy2
    ps.numpy
  ]);
in
stdenvNoCC.mkDerivation (finalAttrs: {
  pname = "e3-programs";
  version = "0.1.0";

  # Only the top-level *.py files, under a fixed name, so the store path does
  # not depend on where the directory was copied to.
  src = builtins.path {
    name = "e3-programs-source";
    path = programsDir;
    filter = path: type: isProgram (baseNameOf path) type;
  };

  nativeBuildInputs = [ makeWrapper ];

  dontConfigure = true;
  dontBuild = true;

  installPhase = ''
    runHook preInstall

    mkdir -p $out/bin $out/share/e3/programs
    for script in *.py; do
      install -m 0444 "$script" "$out/share/e3/programs/$script"
      makeWrapper ${pythonEnv.interpreter} "$out/bin/e3-''${script%.py}" \
        --add-flags "$out/share/e3/programs/$script" \
        --set PYTHONDONTWRITEBYTECODE 1
    done

    runHook postInstall
  '';

  passthru = {
    inherit programs pythonEnv;

    # `e3-run [EXTRA-ARGS...]`: run `program` as party `index` of `parties`
    # ("host:port" strings, in MPyC's order). With resolver = "tailscale",
    # host names are looked up in the tailnet (`tailscale ip -4 NAME`),
    # because the control server assigns the overlay addresses.
    mkRunner =
      {
        program,
        parties,
        index,
        args ? [ ],
        resolver ? "none",
        tailscale ? null,
      }:
      assert lib.assertMsg (lib.elem program programs)
        "e3-programs: no program `${program}` in ${toString programsDir} (have: ${lib.concatStringsSep ", " programs})";
      assert lib.assertMsg (
        resolver == "tailscale" -> tailscale != null
      ) "e3-programs: resolver `tailscale` needs the tailscale package";
      writeShellApplication {
        name = "e3-run";
        runtimeInputs = [
          finalAttrs.finalPackage
        ]
        ++ lib.optional (resolver == "tailscale") tailscale;
        text = ''
          parties=(${lib.escapeShellArgs parties})
          extra_args=(${lib.escapeShellArgs args})

          ${
            if resolver == "tailscale" then
              ''
                resolve() {
                  local host=$1 ip
                  if [[ $host =~ ^[0-9]+(\.[0-9]+){3}$ ]]; then
                    echo "$host"
                    return 0
                  fi
                  for _ in $(seq 60); do
                    if ip=$(tailscale ip -4 "$host" 2>/dev/null | head -n 1) && [[ -n $ip ]]; then
                      echo "$ip"
                      return 0
                    fi
                    sleep 2
                  done
                  echo "e3-run: cannot resolve $host in the tailnet" >&2
                  return 1
                }
              ''
            else
              ''
                resolve() {
                  echo "$1"
                }
              ''
          }
          peers=()
          for entry in "''${parties[@]}"; do
            host=$(resolve "''${entry%:*}")
            peers+=(-P "$host:''${entry##*:}")
          done

          exec ${lib.escapeShellArg "e3-${program}"} "''${peers[@]}" -I ${toString index} --no-log "''${extra_args[@]}" "$@"
        '';
      };
  };

  meta = {
    description = "MPyC programs run by e3 parties";
    license = with lib.licenses; [
      mit
      asl20
    ];
    platforms = lib.platforms.linux;
  };
})
