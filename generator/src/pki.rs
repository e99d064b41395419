//! A small X.509 PKI made with `openssl`, as argument vectors (pure; the
//! callers run them): a CA and leaf certificates it signs. Used by `e3 keys`
//! (OpenVPN's CA and host certificates, kept in `secrets/NAME/`) and by the
//! lab (the Headscale server certificate, OpenVPN's throw-away PKI).
//!
//! Keys are ECDSA P-256 (`-nodes`: unencrypted, the daemons read them at
//! boot), certificates SHA-256 signed. A leaf is made in three steps: its
//! key and a certificate request, then the CA signs the request with the
//! extensions of [`extensions`] (written to a file first).

use std::net::Ipv4Addr;
use std::path::Path;

/// What a leaf certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// A TLS server (`serverAuth`), e.g. Headscale or an OpenVPN server.
    Server,
    /// A TLS client (`clientAuth`), e.g. an OpenVPN client.
    Client,
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

const EC_KEY: &[&str] = &[
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
];

/// `openssl req -x509`: a self-signed CA named `cn`, valid for `days`.
pub fn ca_command(key: &Path, crt: &Path, cn: &str, days: u32) -> Vec<String> {
    let mut v = strings(&["req", "-x509", "-sha256"]);
    v.extend(strings(EC_KEY));
    v.extend(strings(&[
        "-keyout",
        &p(key),
        "-out",
        &p(crt),
        "-days",
        &days.to_string(),
        "-subj",
        &format!("/CN={cn}"),
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]));
    v
}

/// A leaf's files.
#[derive(Debug, Clone, Copy)]
pub struct Leaf<'a> {
    pub key: &'a Path,
    pub csr: &'a Path,
    pub crt: &'a Path,
    /// The extensions file, written with [`extensions`] before signing.
    pub ext: &'a Path,
}

/// The two `openssl` runs of a leaf named `cn`: its key and request, then
/// the CA's signature (serial `serial`, valid for `days`).
pub fn leaf_commands(
    ca_key: &Path,
    ca_crt: &Path,
    leaf: Leaf<'_>,
    cn: &str,
    serial: u32,
    days: u32,
) -> Vec<Vec<String>> {
    let mut req = strings(&["req", "-new", "-sha256"]);
    req.extend(strings(EC_KEY));
    req.extend(strings(&[
        "-keyout",
        &p(leaf.key),
        "-out",
        &p(leaf.csr),
        "-subj",
        &format!("/CN={cn}"),
    ]));
    let sign = strings(&[
        "x509",
        "-req",
        "-sha256",
        "-in",
        &p(leaf.csr),
        "-CA",
        &p(ca_crt),
        "-CAkey",
        &p(ca_key),
        "-set_serial",
        &serial.to_string(),
        "-days",
        &days.to_string(),
        "-extfile",
        &p(leaf.ext),
        "-out",
        &p(leaf.crt),
    ]);
    vec![req, sign]
}

/// X.509 v3 extensions of a leaf: not a CA, signing only, for `usage`, and
/// an IP subject alternative name where clients connect by address (Go
/// matches an IP host against IP SANs only).
pub fn extensions(usage: Usage, ip: Option<Ipv4Addr>) -> String {
    let mut s = String::from("basicConstraints = critical, CA:FALSE\n");
    s.push_str("keyUsage = critical, digitalSignature\n");
    s.push_str(match usage {
        Usage::Server => "extendedKeyUsage = serverAuth\n",
        Usage::Client => "extendedKeyUsage = clientAuth\n",
    });
    if let Some(ip) = ip {
        s.push_str(&format!("subjectAltName = IP:{ip}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn run(args: &[String]) -> Result<String, String> {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// The commands run with the real `openssl`: the chain verifies for the
    /// certificate's purpose and not for the other one.
    #[test]
    fn a_ca_signs_server_and_client_certificates() {
        if !crate::tools::on_path("openssl") {
            assert!(
                std::env::var_os("E3_REQUIRE_TOOLS").is_none_or(|v| v != "1"),
                "openssl is missing, and E3_REQUIRE_TOOLS=1"
            );
            eprintln!("skipped: needs openssl");
            return;
        }
        let tmp = tempfile::tempdir().expect("tempdir");
        let f = |n: &str| tmp.path().join(n);
        run(&ca_command(&f("ca.key"), &f("ca.crt"), "e3 test CA", 3650)).expect("CA");
        for (name, usage, ip) in [
            ("server", Usage::Server, Some(Ipv4Addr::new(198, 18, 0, 1))),
            ("client", Usage::Client, None),
        ] {
            let (key, csr, crt, ext) = (
                f(&format!("{name}.key")),
                f(&format!("{name}.csr")),
                f(&format!("{name}.crt")),
                f(&format!("{name}.ext")),
            );
            fs::write(&ext, extensions(usage, ip)).expect("ext");
            let leaf = Leaf {
                key: &key,
                csr: &csr,
                crt: &crt,
                ext: &ext,
            };
            for c in leaf_commands(&f("ca.key"), &f("ca.crt"), leaf, name, 2, 2) {
                run(&c).unwrap_or_else(|e| panic!("openssl {}: {e}", c.join(" ")));
            }
            let verify = |purpose: &str| {
                run(&strings(&[
                    "verify",
                    "-purpose",
                    purpose,
                    "-CAfile",
                    &p(&f("ca.crt")),
                    &p(&crt),
                ]))
            };
            let (good, bad) = match usage {
                Usage::Server => ("sslserver", "sslclient"),
                Usage::Client => ("sslclient", "sslserver"),
            };
            assert!(verify(good).is_ok_and(|o| o.contains(": OK")), "{name}");
            assert!(verify(bad).is_err(), "{name} verifies as {bad}");
            let text = run(&strings(&["x509", "-in", &p(&crt), "-noout", "-text"])).expect("x509");
            assert!(text.contains(&format!("Subject: CN = {name}")), "{text}");
            assert_eq!(
                text.contains("IP Address:198.18.0.1"),
                ip.is_some(),
                "{text}"
            );
        }
        let ca = run(&strings(&[
            "x509",
            "-in",
            &p(&f("ca.crt")),
            "-noout",
            "-text",
        ]))
        .expect("x509");
        assert!(ca.contains("CA:TRUE"), "{ca}");
    }
}
