# tinc: every host knows every other host's public key and overlay address
# (`hosts`); hosts behind NAT connect to a public bootstrap node (`connectTo`)
# and tinc finds direct paths (UDP hole punching) where it can, forwarding
# through the bootstrap node where it cannot.
#
# nixpkgs runs tinc 1.1 (`tinc_pre`). Keys are RSA by default: that is the
# key type tinc 1.0 (the `e3 sim` lab) understands as well, and a standard PEM
# file; with RSA keys the legacy protocol is used (ExperimentalProtocol = no).
# tincd reads its private key as root before it drops privileges to
# `tinc-<network>`, so Colmena's default ownership (root, 0600) is enough.
{ config, lib, ... }:
let
  inherit (lib)
    all
    attrNames
    mapAttrs
    mkEnableOption
    mkIf
    mkMerge
    mkOption
    optional
    stringLength
    types
    ;

  e3lib = import ../lib.nix { inherit lib; };
  cfg = config.e3.tinc;

  interface = "tinc.${cfg.network}";
  addressesUnit = "network-addresses-${interface}.service";
  isRsa = cfg.keyType == "rsa";
  self = cfg.hosts.${cfg.name} or null;
  validName = name: builtins.match "[A-Za-z0-9_]+" name != null;

  hostModule = {
    options = {
      address = mkOption {
        type = types.str;
        example = "10.45.0.2";
        description = "The host's overlay address (its tinc `Subnet`).";
      };

      publicKey = mkOption {
        type = types.str;
        example = "-----BEGIN RSA PUBLIC KEY-----\n...\n-----END RSA PUBLIC KEY-----";
        description = ''
          The host's public key: an RSA public key in PEM form, including
          the markers (keyType `rsa`), or the `Ed25519PublicKey` value
          (keyType `ed25519`). Public keys are not secret.
        '';
      };

      endpoint = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "203.0.113.30";
        description = "Public address the host can be reached at; `null` for a host behind NAT.";
      };

      port = mkOption {
        type = types.port;
        default = 655;
        example = 655;
        description = "Port (TCP and UDP) the host's tinc daemon listens on.";
      };
    };
  };
in
{
  options.e3.tinc = {
    enable = mkEnableOption "the tinc overlay";

    network = mkOption {
      type = types.strMatching "[a-z0-9]+";
      default = "e3";
      example = "mpc";
      description = "Name of the tinc network; the interface is `tinc.<name>` (at most 15 characters).";
    };

    name = mkOption {
      type = types.strMatching "[A-Za-z0-9_]+";
      example = "party_ams";
      description = ''
        This node's tinc name, a key of {option}`e3.tinc.hosts`. tinc allows
        only letters, digits and underscores.
      '';
    };

    prefixLength = mkOption {
      type = types.ints.between 0 32;
      default = 24;
      example = 24;
      description = "Prefix length of the overlay network, for the address on the tinc interface.";
    };

    keyType = mkOption {
      type = types.enum [
        "rsa"
        "ed25519"
      ];
      default = "rsa";
      example = "ed25519";
      description = ''
        `rsa`: legacy protocol, compatible with tinc 1.0. `ed25519`: tinc
        1.1's protocol; the key files are in tinc's own format
        (`tinc generate-ed25519-keys`).
      '';
    };

    privateKeyFile = mkOption {
      type = e3lib.secretFile;
      default = "/run/keys/tinc-${cfg.keyType}.priv";
      defaultText = lib.literalExpression ''"/run/keys/tinc-''${config.e3.tinc.keyType}.priv"'';
      example = "/run/keys/tinc-rsa.priv";
      description = "This node's private key (Colmena key `tinc-rsa.priv` or `tinc-ed25519.priv`).";
    };

    hosts = mkOption {
      type = types.attrsOf (types.submodule hostModule);
      example = {
        bootstrap = {
          address = "10.45.0.1";
          endpoint = "203.0.113.30";
          publicKey = "-----BEGIN RSA PUBLIC KEY-----\n...\n-----END RSA PUBLIC KEY-----";
        };
        party_ams = {
          address = "10.45.0.2";
          publicKey = "-----BEGIN RSA PUBLIC KEY-----\n...\n-----END RSA PUBLIC KEY-----";
        };
      };
      description = "All nodes of the network, this one included, by tinc name.";
    };

    connectTo = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "bootstrap" ];
      description = "Nodes (with an endpoint) this node connects to on start (`ConnectTo`).";
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      assertions = [
        {
          assertion = stringLength interface <= 15;
          message = "e3.tinc.network `${cfg.network}` is too long: the interface name `${interface}` exceeds 15 characters.";
        }
        {
          assertion = self != null;
          message = "e3.tinc.hosts must contain this node (`${cfg.name}`).";
        }
        {
          assertion = all validName (attrNames cfg.hosts);
          message = "e3.tinc.hosts: tinc names may contain only letters, digits and underscores, got: ${toString (attrNames cfg.hosts)}.";
        }
        {
          assertion = all (n: (cfg.hosts.${n} or { endpoint = null; }).endpoint != null) cfg.connectTo;
          message = "e3.tinc.connectTo: every node listed must be in e3.tinc.hosts and have an endpoint.";
        }
      ];

      services.tinc.networks.${cfg.network} = {
        inherit (cfg) name;
        interfaceType = "tun";
        rsaPrivateKeyFile = mkIf isRsa cfg.privateKeyFile;
        ed25519PrivateKeyFile = mkIf (!isRsa) cfg.privateKeyFile;

        hostSettings = mapAttrs (_: host: {
          subnets = [ { inherit (host) address; } ];
          addresses = optional (host.endpoint != null) {
            address = host.endpoint;
            inherit (host) port;
          };
          rsaPublicKey = mkIf isRsa host.publicKey;
          settings = {
            Port = host.port;
            Ed25519PublicKey = mkIf (!isRsa) host.publicKey;
          };
        }) cfg.hosts;

        settings = {
          ConnectTo = mkIf (cfg.connectTo != [ ]) cfg.connectTo;
          ExperimentalProtocol = mkIf isRsa false;
        };
      };

      # nixpkgs does not address the interface; the tun device is created
      # and addressed by NixOS networking, and tinc attaches to it.
      networking.interfaces.${interface} = {
        virtual = true;
        virtualType = "tun";
        ipv4.addresses = mkIf (self != null) [
          {
            inherit (self) address;
            inherit (cfg) prefixLength;
          }
        ];
      };

      networking.firewall = mkIf (self != null) {
        allowedTCPPorts = [ self.port ];
        allowedUDPPorts = [ self.port ];
      };

      e3.overlay = {
        backend = "tinc";
        inherit interface;
        units = [ "tinc.${cfg.network}.service" ];
      };
    }

    # Order tinc after the interface exists (nixpkgs issue #27070); the unit
    # that creates it depends on the networking backend.
    (mkIf (!config.networking.useNetworkd) {
      systemd.services."tinc.${cfg.network}" = {
        after = [ addressesUnit ];
        requires = [ addressesUnit ];
      };
    })

    (mkIf config.networking.useNetworkd {
      systemd.services."tinc.${cfg.network}" = {
        after = [ "systemd-networkd.service" ];
        wants = [ "systemd-networkd.service" ];
      };
    })
  ]);
}
