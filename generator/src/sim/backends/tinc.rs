//! tinc 1.0: every node knows every host file (public key, subnet, public
//! address); parties connect to the bootstrap node, meta connections go
//! through it, and tinc tries direct UDP between nodes.

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::plan::{Plan, Role};
use crate::sim::netns::{run, Lab};
use crate::sim::{Error, Started};

pub const PROGRAMS: &[&str] = &["tincd"];

/// tinc node names allow only letters, digits and `_`.
fn node(name: &str) -> String {
    name.replace('-', "_")
}

pub fn start(lab: &mut Lab, plan: &Plan, fault: Option<&str>) -> Result<Started, Error> {
    let dir = lab.dir.join("tinc");
    let port = plan.connectivity.port.unwrap_or(655);
    let bootstrap = plan
        .hosts
        .iter()
        .find(|h| h.role == Role::Bootstrap)
        .ok_or_else(|| Error::Plan("the plan has no bootstrap node".into()))?;
    let mut order: Vec<&crate::plan::Host> = vec![bootstrap];
    order.extend(plan.parties());
    for h in &order {
        let d = dir.join(&h.name);
        super::create_dir_all(d.join("hosts"))?;
        let overlay = h
            .overlay_address
            .ok_or_else(|| Error::Plan(format!("host `{}` has no overlay address", h.name)))?;
        let mut conf = format!("Name = {}\nInterface = tinc0\nMode = router\nAddressFamily = ipv4\nPort = {port}\nPingInterval = 10\n", node(&h.name));
        if h.role != Role::Bootstrap {
            let _ = writeln!(conf, "ConnectTo = {}", node(&bootstrap.name));
        }
        super::write(d.join("tinc.conf"), conf)?;
        let mut host = format!("Subnet = {overlay}/32\nPort = {port}\n");
        if h.nat == crate::catalogue::Nat::None {
            if let Some(a) = h.public_address {
                let _ = writeln!(host, "Address = {a}");
            }
        }
        super::write(d.join("hosts").join(node(&h.name)), host)?;
        let up = d.join("tinc-up");
        super::write(&up, format!("#!/bin/sh\nip addr add {overlay}/16 dev $INTERFACE\nip link set $INTERFACE mtu 1300 up\n"))?;
        super::set_permissions(&up, fs::Permissions::from_mode(0o755))?;
        run("tincd", &["-c", &d.display().to_string(), "-K2048"])?;
    }
    // Every node gets every host file.
    for h in &order {
        let src = dir.join(&h.name).join("hosts").join(node(&h.name));
        for o in &order {
            if o.name != h.name {
                super::copy(&src, dir.join(&o.name).join("hosts").join(node(&h.name)))?;
            }
        }
    }
    let mut started = Started::default();
    for (k, h) in order.iter().enumerate() {
        let d = dir.join(&h.name);
        let ns = lab.ns(&h.name);
        let log = lab.dir.join(format!("{}.tinc.log", h.name));
        lab.spawn(
            &h.name,
            &ns,
            "tincd",
            &[
                "-c",
                &d.display().to_string(),
                "-D",
                "-d1",
                &format!("--pidfile={}", d.join("pid").display()),
            ],
            &log,
            &log,
        )?;
        started.logs.push((h.name.to_string(), log));
        if k == 0 {
            crate::sim::check_coordinator(lab, &h.name, "tincd", fault)?;
        }
    }
    started.relay = Some(bootstrap.name.to_string());
    Ok(started)
}
