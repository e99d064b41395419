# The MPyC programs of e3 (the `programs/` directory next to `modules/`),
# each wrapped as a command `e3-<name>` that runs it with a Python that has
# MPyC, gmpy2 and numpy:
#
#   e3-secure-sum -P 10.9.0.1:11365 -P 10.9.0.2:11365 -I 0 --no-log
#
# A program given by path in a scenario is rendered into `programs/user/`
# with its `program.files` (sibling modules, data), and copied here whole.
#
# `passthru.mkRunner` builds `e3-run`, which runs one host's program with the
# party list, index and arguments baked in, after e3's compatibility
# handshake with every other party (`e3_handshake.py`: same program, files,
# arguments, MPyC and Python, or nobody runs anything); it runs in the
# program's directory, with e3's helpers on PYTHONPATH (used by
# modules/party.nix).
{
  lib,
  stdenvNoCC,
  makeWrapper,
  python3,
  writeShellApplication,
  programsDir ? ../../programs,
}:

let
  isPython = name: type: type == "regular" && lib.hasSuffix ".py" name;
  isHelper = name: lib.hasPrefix "e3_" name || lib.hasPrefix "_" name;

  # Bundled program names, e.g. [ "millionaires" "rounds" "secure-sum" ].
  programs = map (lib.removeSuffix ".py") (
    lib.attrNames (
      lib.filterAttrs (name: type: isPython name type && !isHelper name) (builtins.readDir programsDir)
    )
  );

  # What the derivation takes: the top-level *.py files and all of `user/`.
  keep =
    path: type:
    let
      rel = lib.removePrefix (toString programsDir + "/") (toString path);
    in
    (rel == baseNameOf path && isPython rel type) || rel == "user" || lib.hasPrefix "user/" rel;

  pythonEnv = python3.withPackages (ps: [
    (ps.callPackage ./mpyc.nix { })
    ps.gmpy2
    ps.numpy
  ]);
in
stdenvNoCC.mkDerivation (finalAttrs: {
  pname = "e3-programs";
  version = "0.1.0";

  # The top-level *.py files and `user/`, under a fixed name, so the store
  # path does not depend on where the directory was copied to.
  src = builtins.path {
    name = "e3-programs-source";
    path = programsDir;
    filter = keep;
  };

  nativeBuildInputs = [ makeWrapper ];

  dontConfigure = true;
  dontBuild = true;

  installPhase = ''
    runHook preInstall

    mkdir -p $out/bin $out/share/e3/programs
    cp -r --no-preserve=mode . $out/share/e3/programs/
    find $out/share/e3/programs -type f -exec chmod 0444 {} +
    for script in *.py; do
      case $script in e3_* | _*) continue ;; esac
      makeWrapper ${pythonEnv.interpreter} "$out/bin/e3-''${script%.py}" \
        --add-flags "$out/share/e3/programs/$script" \
        --set PYTHONDONTWRITEBYTECODE 1
    done
    makeWrapper ${pythonEnv.interpreter} "$out/bin/e3-handshake" \
      --add-flags "$out/share/e3/programs/e3_handshake.py" \
      --set PYTHONDONTWRITEBYTECODE 1 \
      --prefix PYTHONPATH : "$out/share/e3/programs"

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
      assert lib.assertMsg (lib.elem program programs || lib.hasPrefix "user/" program)
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

          # The program's own directory: its sibling modules and data files
          # are found relative to it. The handshake execs the program.
          programs=${finalAttrs.finalPackage}/share/e3/programs
          script=$programs/${if lib.hasPrefix "user/" program then program else "${program}.py"}
          cd "$(dirname "$script")"
          exec e3-handshake "$script" "''${peers[@]}" -I ${toString index} --no-log "''${extra_args[@]}" "$@"
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
