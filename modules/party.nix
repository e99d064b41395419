# An MPyC party: the program, the ordered party list and this host's index,
# run once by `e3-party.service` when the deploy step starts it, after e3's
# compatibility handshake with every other party (`e3_handshake.py`). The
# result is written to /var/lib/e3/result.json: the program's last output
# line when that is e3's JSON object (with `ok`), otherwise an object with
# the exit status, the wall time and the last lines of stdout and stderr.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    all
    elemAt
    length
    literalExpression
    literalMD
    mkEnableOption
    mkIf
    mkMerge
    mkOption
    optional
    types
    ;

  cfg = config.e3.party;
  overlay = config.e3.overlay;

  isEntry = entry: builtins.match "[^:[:space:]]+:[0-9]{1,5}" entry != null;
  portOf = entry: lib.toInt (lib.last (lib.splitString ":" entry));

  ownEntry = if cfg.index < length cfg.parties then elemAt cfg.parties cfg.index else null;
  ownPort = if ownEntry != null && isEntry ownEntry then portOf ownEntry else null;
  privilegedPort = ownPort != null && ownPort < 1024;
in
{
  options.e3.party = {
    enable = mkEnableOption "an MPyC party (`e3-party.service`, started by the deploy step)";

    index = mkOption {
      type = types.ints.unsigned;
      example = 0;
      description = ''
        This party's position in {option}`e3.party.parties`, passed to
        MPyC as `-I`.
      '';
    };

    parties = mkOption {
      type = types.nonEmptyListOf types.str;
      example = [
        "10.42.0.11:11365"
        "10.42.0.12:11365"
        "10.42.0.13:11365"
      ];
      description = ''
        All parties in MPyC's order, this one included, as `host:port`
        on the overlay; each becomes one `-P host:port`. Every party must
        have the same list. With {option}`e3.party.resolver` set to
        `tailscale`, a host may be a tailnet host name instead of an
        address.
      '';
    };

    program = mkOption {
      type = types.strMatching "[A-Za-z0-9_-]+|user/[A-Za-z0-9_./-]+[.]py";
      example = "secure-sum";
      description = ''
        Name of a bundled program in the `programs/` directory next to
        `modules/` (`programs/<name>.py`), or `user/<path>.py`: a program
        given by path, which e3 renders into `programs/user/` with its
        `program.files`; it runs in `programs/user/`, so its sibling modules
        and data files are found.
      '';
    };

    args = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [
        "--rounds"
        "10"
      ];
      description = "Arguments passed to the program after MPyC's own (`-P`, `-I`, `--no-log`).";
    };

    resolver = mkOption {
      type = types.enum [
        "none"
        "tailscale"
      ];
      default = "none";
      defaultText = literalMD "`tailscale` when {option}`e3.tailscale.enable` is set, else `none`";
      example = "tailscale";
      description = ''
        How host names in {option}`e3.party.parties` are turned into
        addresses at run time. `none` passes them to MPyC unchanged;
        `tailscale` looks each name that is not an IPv4 address up with
        `tailscale ip -4 NAME` (the control server assigns tailnet
        addresses, so they are not known when the configuration is built).
      '';
    };

    timeout = mkOption {
      type = types.ints.positive;
      default = 900;
      example = 3600;
      description = "Seconds after which a run that has not finished is stopped and counted as failed.";
    };

    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ./pkgs/e3-programs.nix { };
      defaultText = literalExpression "pkgs.callPackage ./pkgs/e3-programs.nix { }";
      description = ''
        The e3 programs (one `e3-<name>` command per program). Must have
        `passthru.mkRunner` and `passthru.programs` like
        `modules/pkgs/e3-programs.nix`.
      '';
    };

    listenPort = mkOption {
      type = types.nullOr types.port;
      readOnly = true;
      default = ownPort;
      defaultText = literalMD "the port of entry {option}`e3.party.index` of {option}`e3.party.parties`";
      example = 11365;
      description = "The TCP port this party listens on; opened on the overlay interface.";
    };

    runner = mkOption {
      type = types.package;
      readOnly = true;
      default = cfg.package.mkRunner {
        inherit (cfg)
          program
          parties
          index
          args
          resolver
          ;
        tailscale = config.services.tailscale.package;
      };
      defaultText = literalMD "`e3-run`, built from the options above";
      description = ''
        The command `e3-run`, which runs the configured program as this
        party. Installed system-wide, so a run can also be started by hand.
      '';
    };

    resultFile = mkOption {
      type = types.str;
      readOnly = true;
      default = "/var/lib/e3/result.json";
      description = "Where `e3-party.service` writes the program's result line.";
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      assertions = [
        {
          assertion = overlay.backend != null;
          message = "e3.party needs connectivity: enable one of e3.tailscale, e3.nebula, e3.wireguard, e3.tinc or e3.direct.";
        }
        {
          assertion = all isEntry cfg.parties;
          message = "e3.party.parties must be `host:port` strings, got: ${builtins.toJSON cfg.parties}";
        }
        {
          assertion = cfg.index < length cfg.parties;
          message = "e3.party.index is ${toString cfg.index}, but e3.party.parties has only ${toString (length cfg.parties)} entries.";
        }
        {
          assertion =
            (cfg.package.programs or null) == null
            || lib.elem cfg.program cfg.package.programs
            || lib.hasPrefix "user/" cfg.program;
          message = "e3.party.program: no program `${cfg.program}` in programs/ (have: ${
            lib.concatStringsSep ", " (cfg.package.programs or [ ])
          }).";
        }
      ];

      environment.systemPackages = [ cfg.runner ];

      systemd.services.e3-party = {
        description = "e3 MPyC party ${toString cfg.index}: ${cfg.program}";
        wants = [ "network-online.target" ] ++ overlay.units;
        after = [ "network-online.target" ] ++ overlay.units;

        # Started by the deploy step (`systemctl start e3-party`): no
        # wantedBy, and a new configuration does not start it either.
        restartIfChanged = false;

        # The output goes to the journal too, once the program has exited
        # (stdout, then stderr). result.json is e3's JSON
        # line when the program printed one last, otherwise the exit
        # status, wall time and output tails; the unit fails with the
        # program.
        path = [
          cfg.runner
          pkgs.jq
          pkgs.coreutils
        ];
        script = ''
          result="$STATE_DIRECTORY/result.json"
          rm -f "$result" "$result.tmp"
          out=$(mktemp "$STATE_DIRECTORY/.stdout.XXXXXX")
          err=$(mktemp "$STATE_DIRECTORY/.stderr.XXXXXX")
          trap 'rm -f "$out" "$err"' EXIT
          start=$(date +%s.%N)
          status=0
          e3-run > "$out" 2> "$err" || status=$?
          end=$(date +%s.%N)
          cat "$out"
          cat "$err" >&2
          last=$(grep -v '^[[:space:]]*$' "$out" | tail -n 1 || true)
          if [[ -n $last ]] && jq -e 'type == "object" and (.ok | type) == "boolean"' <<<"$last" >/dev/null 2>&1; then
            printf '%s\n' "$last" > "$result.tmp"
          else
            jq -n \
              --argjson code "$status" \
              --argjson t0 "$start" \
              --argjson t1 "$end" \
              --rawfile stdout <(tail -n 5 "$out") \
              --rawfile stderr <(tail -n 5 "$err") \
              '{"ok": ($code == 0), "exit": $code, "elapsed_s": ($t1 - $t0),
                "stdout_tail": ($stdout | split("\n") | map(select(length > 0))),
                "stderr_tail": ($stderr | split("\n") | map(select(length > 0)))}' > "$result.tmp"
          fi
          mv "$result.tmp" "$result"
          exit "$status"
        '';

        serviceConfig = {
          Type = "oneshot";
          DynamicUser = true;
          StateDirectory = "e3";
          TimeoutStartSec = cfg.timeout;
          Environment = [ "PYTHONDONTWRITEBYTECODE=1" ];
          AmbientCapabilities = optional privilegedPort "CAP_NET_BIND_SERVICE";
          CapabilityBoundingSet = optional privilegedPort "CAP_NET_BIND_SERVICE";
          LockPersonality = true;
          NoNewPrivileges = true;
          PrivateDevices = true;
          PrivateTmp = true;
          ProtectClock = true;
          ProtectControlGroups = true;
          ProtectHome = true;
          ProtectHostname = true;
          ProtectKernelLogs = true;
          ProtectKernelModules = true;
          ProtectKernelTunables = true;
          ProtectSystem = "strict";
          RestrictAddressFamilies = [
            "AF_INET"
            "AF_INET6"
            "AF_UNIX"
          ];
          RestrictNamespaces = true;
          RestrictRealtime = true;
          SystemCallArchitectures = "native";
        };
      };
    }

    (mkIf (ownPort != null && overlay.interface == null) {
      networking.firewall.allowedTCPPorts = [ ownPort ];
    })

    (mkIf (ownPort != null && overlay.interface != null) {
      networking.firewall.interfaces.${overlay.interface}.allowedTCPPorts = [ ownPort ];
    })
  ]);
}
