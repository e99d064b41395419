# Plain TCP between the parties' own addresses: no overlay at all. The
# baseline that fails across NAT. The MPyC port is opened on every
# interface (e3.overlay.interface stays null).
{ config, lib, ... }:
let
  inherit (lib) mkEnableOption mkIf;
in
{
  options.e3.direct.enable = mkEnableOption "plain TCP between the parties' underlay addresses (no overlay)";

  config = mkIf config.e3.direct.enable {
    e3.overlay.backend = "direct";
  };
}
