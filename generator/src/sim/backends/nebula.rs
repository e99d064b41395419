//! Nebula: a CA and certificates made for the lab, a lighthouse (also the
//! relay unless `relay: never`), parties that punch holes and fall back to
//! the relay.

use std::fmt::Write as _;
use std::fs;

use crate::catalogue::Relay;
use crate::plan::{Plan, Role};
use crate::sim::netns::{run, Lab};
use crate::sim::Started;

pub const PROGRAMS: &[&str] = &["nebula", "nebula-cert"];

pub fn start(lab: &mut Lab, plan: &Plan, fault: Option<&str>) -> Result<Started, String> {
    let dir = lab.dir.join("nebula");
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let p = |f: &str| dir.join(f).display().to_string();
    run("nebula-cert", &["ca", "-name", &format!("{} lab", lab.prefix), "-duration", "24h", "-out-crt", &p("ca.crt"), "-out-key", &p("ca.key")])?;
    let port = plan.connectivity.port.unwrap_or(4242);
    let lighthouse = plan.hosts.iter().find(|h| h.role == Role::Lighthouse).ok_or("the plan has no lighthouse")?;
    let lh_overlay = lighthouse.overlay_address.ok_or("the lighthouse has no overlay address")?;
    let lh_public = lighthouse.public_address.ok_or("the lighthouse has no public address")?;
    let relay_on = plan.connectivity.relay != Relay::Never && !plan.connectivity.relays.is_empty();
    let mut started = Started::default();
    let mut order: Vec<&crate::plan::Host> = vec![lighthouse];
    order.extend(plan.parties());
    for (k, h) in order.iter().enumerate() {
        let overlay = h.overlay_address.ok_or_else(|| format!("host `{}` has no overlay address", h.name))?;
        run("nebula-cert", &["sign", "-name", &h.name, "-ip", &format!("{overlay}/16"), "-ca-crt", &p("ca.crt"), "-ca-key", &p("ca.key"), "-out-crt", &p(&format!("{}.crt", h.name)), "-out-key", &p(&format!("{}.key", h.name))])?;
        let is_lh = h.role == Role::Lighthouse;
        let mut c = String::new();
        let _ = writeln!(c, "pki:\n  ca: {}\n  cert: {}\n  key: {}", p("ca.crt"), p(&format!("{}.crt", h.name)), p(&format!("{}.key", h.name)));
        if is_lh {
            let _ = writeln!(c, "static_host_map: {{}}\nlighthouse:\n  am_lighthouse: true\n  interval: 1");
        } else {
            let _ = writeln!(c, "static_host_map:\n  \"{lh_overlay}\": [\"{lh_public}:{port}\"]\nlighthouse:\n  am_lighthouse: false\n  interval: 1\n  hosts: [\"{lh_overlay}\"]");
        }
        let _ = writeln!(c, "listen:\n  host: 0.0.0.0\n  port: {port}\npunchy:\n  punch: true\n  respond: true\n  delay: 200ms");
        match (is_lh, relay_on) {
            (true, on) => {
                let _ = writeln!(c, "relay:\n  am_relay: {on}\n  use_relays: false");
            }
            (false, true) => {
                let _ = writeln!(c, "relay:\n  am_relay: false\n  use_relays: true\n  relays: [\"{lh_overlay}\"]");
            }
            (false, false) => {
                let _ = writeln!(c, "relay:\n  am_relay: false\n  use_relays: false");
            }
        }
        let _ = writeln!(c, "tun:\n  dev: nebula1\n  mtu: 1300\nhandshakes:\n  try_interval: 100ms\nlogging:\n  level: info\n  format: text");
        let _ = writeln!(c, "firewall:\n  outbound:\n    - {{port: any, proto: any, host: any}}\n  inbound:\n    - {{port: any, proto: any, host: any}}");
        let cfg = dir.join(format!("{}.yml", h.name));
        fs::write(&cfg, c).map_err(|e| e.to_string())?;
        let ns = lab.ns(&h.name);
        let log = lab.dir.join(format!("{}.nebula.log", h.name));
        lab.spawn(&h.name, &ns, "nebula", &["-config", &cfg.display().to_string()], &log, &log)?;
        started.logs.push((h.name.clone(), log));
        if k == 0 {
            // The lighthouse must be up before the parties ask it anything.
            crate::sim::check_coordinator(lab, &h.name, "nebula", fault)?;
        }
    }
    started.relay = relay_on.then(|| lighthouse.name.clone());
    Ok(started)
}
