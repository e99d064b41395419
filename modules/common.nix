# What every e3 host shares: key-only SSH for root (Colmena and the e3 deploy
# step log in as root), flakes, the NixOS state version.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    mkDefault
    mkEnableOption
    mkIf
    mkOption
    types
    ;

  cfg = config.e3;
in
{
  options.e3 = {
    common.enable = mkEnableOption "the settings every e3 host shares (key-only SSH for root, flakes, state version)";

    sshKeys = mkOption {
      type = types.listOf types.singleLineStr;
      default = [ ];
      example = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVzZXJrZXlleGFtcGxlb25seQ researcher@laptop" ];
      description = ''
        Public SSH keys that may log in as `root`. Colmena and the e3
        deploy step connect with one of them. Password and
        keyboard-interactive logins are disabled, so this must not be empty.
      '';
    };

    platform.name = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "digitalocean";
      description = ''
        Name of the platform module this host imports
        (`modules/platforms/<name>.nix` sets it). Two platform modules on
        one host give conflicting definitions of this option.
      '';
    };
  };

  config = mkIf cfg.common.enable {
    assertions = [
      {
        assertion = cfg.sshKeys != [ ];
        message = "e3.sshKeys is empty: password logins are disabled, so nobody could log in to this host.";
      }
    ];

    services.openssh = {
      enable = true;
      openFirewall = true;
      settings = {
        PasswordAuthentication = false;
        KbdInteractiveAuthentication = false;
        PermitRootLogin = "prohibit-password";
      };
    };

    users.users.root.openssh.authorizedKeys.keys = cfg.sshKeys;

    nix.settings.experimental-features = [
      "nix-command"
      "flakes"
    ];

    # A default only: an `existing` host keeps the state version it was
    # installed with (changing it is never what its owner wants).
    system.stateVersion = mkDefault "25.11";

    time.timeZone = mkDefault "UTC";

    environment.systemPackages = [ pkgs.jq ];
  };
}
