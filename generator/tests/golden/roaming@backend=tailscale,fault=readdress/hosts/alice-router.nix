# alice-router: router of the e3 scenario `roaming@backend=tailscale,fault=readdress` (digitalocean, ams3, `easy` rules of nat.rs).
let
  privateAddresses = import ../private-addresses.nix;
in
{
  imports = [
    ../modules
    ../modules/platforms/digitalocean.nix
    ./common.nix
  ];

  networking.hostName = "alice-router";

  # The same rules as the lab and the VM test (generator/src/nat.rs) between
  # eth0 (way out) and eth1 (the site's network), plus SSH to the router itself.
  e3.cloudNat.router = {
    enable = true;
    rules = ''
      counter unsolicited { }
      chain input {
        type filter hook input priority 0; policy accept;
        iifname "eth0" tcp dport 22 accept
        iifname "eth0" ct state established,related accept
        iifname "eth0" counter name "unsolicited" drop
      }
      chain forward {
        type filter hook forward priority 0; policy accept;
        ct state established,related accept
        iifname "eth1" accept
        iifname "eth0" counter name "unsolicited" drop
      }
      chain post {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "eth0" masquerade
      }
    '';
    lan = {
      address = privateAddresses.alice-router;
      prefixLength = 24;
    };
  };
}
