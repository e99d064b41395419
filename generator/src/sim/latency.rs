//! Latency in the lab (`simulation.latency`): the shaping of
//! [`crate::netem`] (the model the NixOS VM test uses too: each host on the
//! internet segment, a site's router or carrier for its parties, delays what
//! it sends there by destination) on the lab's interface names, run with
//! `tc` in the hosts' namespaces.
//!
//! Loss (`simulation.loss`) is not netem's here: the lab drops packets on
//! its internet bridge with nftables, which needs no netem (see
//! [`crate::nat::loss_ruleset`]), so the shaping is asked for delays only.
//!
//! [`commands`] is pure and tested everywhere; [`apply`] runs them and is
//! used only when [`crate::sim`] found that netem works, which is not the
//! case on e3's development machines (their kernel has no netem). There, the
//! tests run every command with the real `tc` in a real lab and accept only
//! the kernel's "unknown qdisc kind" for netem itself (see
//! `generator/tests/sim.rs`).

use crate::netem::{shaping, Loss};
use crate::plan::Plan;

/// The `tc` commands of one host of the lab.
#[derive(Debug, Clone, PartialEq)]
pub struct HostCommands {
    pub host: String,
    /// Its interface on the internet segment, as the lab names it: `wan` on
    /// routers and carriers, `eth0` elsewhere.
    pub dev: &'static str,
    /// How many destination addresses it delays (one u32 filter each).
    pub destinations: usize,
    /// Argument vectors, `tc` first, to run in order in its namespace.
    pub commands: Vec<Vec<String>>,
}

/// What the lab runs to apply the plan's delays, host by host.
pub fn commands(plan: &Plan) -> Vec<HostCommands> {
    shaping(plan, Loss::Elsewhere)
        .into_iter()
        .filter_map(|s| {
            let dev = super::ifname(plan.host(&s.host)?, "internet");
            Some(HostCommands {
                dev,
                destinations: s.delays.len(),
                commands: s.commands(dev),
                host: s.host,
            })
        })
        .collect()
}

/// Applies the plan's delays in the lab (netem must work). Returns the
/// report's latency line.
pub fn apply(lab: &crate::sim::netns::Lab, plan: &Plan) -> Result<String, String> {
    let all = commands(plan);
    for h in &all {
        let ns = lab.ns(&h.host);
        for c in &h.commands {
            let args: Vec<&str> = c[1..].iter().map(String::as_str).collect();
            crate::sim::netns::ns_run(&ns, &c[0], &args)
                .map_err(|e| format!("latency on `{}`: {e}", h.host))?;
        }
    }
    Ok(format!(
        "{} model applied with netem: {} one-way delays on {} hosts (each host on the internet segment, as it sends there, by destination; round trip = 2 × one-way)",
        plan.latency.model,
        all.iter().map(|h| h.destinations).sum::<usize>(),
        all.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(yaml: &str) -> Plan {
        let checked = crate::check_text("latency.yaml", yaml.as_bytes());
        crate::plan::plan(
            checked
                .scenario
                .as_ref()
                .unwrap_or_else(|| panic!("invalid scenario: {:?}", checked.diagnostics)),
        )
    }

    #[test]
    fn the_lab_shapes_the_shared_model_on_its_own_interfaces_without_loss() {
        let p = plan("connectivity: { backend: nebula }\nprogram: { name: secure-sum }\ndefaults: { platform: digitalocean }\nparties:\n  - { name: ams, region: ams3 }\n  - { name: nyc, region: nyc3, nat: easy }\n  - { name: sgp, region: sgp1, nat: cgnat }\nsimulation: { latency: regions, loss: 2% }\n");
        let all = commands(&p);
        let devs: Vec<(&str, &str)> = all.iter().map(|h| (h.host.as_str(), h.dev)).collect();
        // The lighthouse is placed in one of the parties' regions; it shapes
        // too (towards the two others).
        assert_eq!(
            devs,
            [
                ("ams", "eth0"),
                ("lighthouse", "eth0"),
                ("nyc-router", "wan"),
                ("sgp-carrier", "wan")
            ]
        );
        let shared = shaping(&p, Loss::Elsewhere);
        for (h, s) in all.iter().zip(&shared) {
            assert_eq!(h.host, s.host);
            assert_eq!(h.commands, s.commands(h.dev));
            assert_eq!(h.destinations, s.delays.len());
            assert_eq!(
                h.commands
                    .iter()
                    .filter(|c| c.contains(&"filter".to_string()))
                    .count(),
                h.destinations
            );
            // Loss is the internet bridge's (nftables), never netem's here.
            assert!(
                h.commands
                    .iter()
                    .all(|c| c[0] == "tc" && !c.contains(&"loss".to_string())),
                "{:?}",
                h.commands
            );
        }
        // The VM test's shaping of the same plan carries the loss.
        assert!(shaping(&p, Loss::Netem)
            .iter()
            .all(|s| s.loss_percent == 2.0));
    }
}
