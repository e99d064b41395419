# control: control of the e3 scenario `headscale-nat` (digitalocean, fra1).
let
  addresses = import ../addresses.nix;
in
{
  imports = [
    ../modules
    ../modules/platforms/digitalocean.nix
    ./common.nix
  ];

  networking.hostName = "control";

  # Plain HTTP on the public address: a closed test network. For the
  # embedded DERP relay (needs TLS), give this host a DNS name and set
  # `domain`, `tls = "acme"`, `acmeEmail` and `security.acme.acceptTerms`.
  e3.headscale = {
    enable = true;
    domain = addresses.control;
    tls = "none";
  };
}
