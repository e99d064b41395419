# Public key material of this scenario, read from public-keys/. `e3 keys`
# writes it to secrets/NAME/public/ (next to the private halves, which never
# leave secrets/NAME/), and `e3 render` copies it here.
let
  read =
    name:
    let
      file = ./public-keys + "/${name}";
    in
    if builtins.pathExists file then
      builtins.readFile file
    else
      throw "e3: public-keys/${name} is missing: run `e3 keys roaming@backend=openvpn,fault=readdress`, then `e3 render roaming@backend=openvpn,fault=readdress`";

  # Non-empty lines, without the line ends.
  lines =
    text: builtins.filter (line: builtins.isString line && line != "") (builtins.split "\n" text);
in
{
  # Root's authorized SSH keys on every host (put yours in
  # secrets/roaming@backend=openvpn,fault=readdress/public/authorized_keys; `e3 keys` copies ~/.ssh/id_*.pub there).
  sshKeys = lines (read "authorized_keys");

  # A host's public key for a backend, e.g. `wireguard "ams"`.
  wireguard = host: builtins.head (lines (read "wireguard/${host}.pub"));
  tinc = host: read "tinc/${host}.pub";
}
