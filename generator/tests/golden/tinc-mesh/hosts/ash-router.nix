# ash-router: router of the e3 scenario `tinc-mesh` (hetzner, ash, `easyaf` rules of nat.rs).
{
  imports = [
    ../modules
    ../modules/platforms/hetzner.nix
    ./common.nix
  ];

  networking.hostName = "ash-router";

  # The same rules as the lab and the VM test (generator/src/nat.rs) between
  # eth0 (way out) and eth1 (the site's network), plus SSH to the router itself.
  e3.cloudNat.router = {
    enable = true;
    rules = ''
      set peers { type ipv4_addr; flags timeout; timeout 120s; }
      map udpmap { type inet_service : ipv4_addr; flags timeout; timeout 120s; }
      chain track {
        type filter hook prerouting priority -150; policy accept;
        iifname "eth1" update @peers { ip daddr }
        iifname "eth1" meta l4proto udp update @udpmap { udp sport : ip saddr }
      }
      chain pre {
        type nat hook prerouting priority dstnat; policy accept;
        iifname "eth0" ip saddr @peers meta l4proto udp dnat to udp dport map @udpmap
      }
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
        iifname "eth0" ip saddr @peers ct status dnat accept
        iifname "eth0" counter name "unsolicited" drop
      }
      chain post {
        type nat hook postrouting priority srcnat; policy accept;
        oifname "eth0" masquerade
      }
    '';
  };
}
