//! The plan's NAT topology as real cloud machines and networks: which
//! routers a deployment creates, which private network each site's parties
//! sit on, how each host reaches the internet and how Colmena reaches it.
//! Pure: Terraform (`render/terraform.rs`), the Nix side (`render/nix.rs`)
//! and `e3 deploy` (cost, order) read the same [`Cloud`].
//!
//! Per site of the plan whose hosts are all on one cloud platform:
//!
//! - `easy`, `easyaf`, `hard`, `one2one`: the site's router is a machine of
//!   the smallest size, with the `nat.rs` rules between its public
//!   interface and the site's private network (DigitalOcean: a VPC per site;
//!   Hetzner: a network per site with a route `0.0.0.0/0` via the router).
//!   The parties' only way out is the router.
//! - `cgnat`: the carrier and the home router. On Hetzner both are machines
//!   (the carrier network between them is a second private network; the
//!   home router has no public address). A Droplet belongs to exactly one
//!   VPC, so on DigitalOcean only the home router exists: one layer of NAT.
//! - `firewall`: no router; the party keeps its public address and its own
//!   stateful firewall (NixOS's, on by default) drops unsolicited inbound.
//!
//! Sites with a party off the cloud (a Raspberry Pi, an existing host) keep
//! that party's real network: nothing is created for them.

use std::net::Ipv4Addr;

use crate::catalogue::{Nat, Platform};
use crate::plan::{Host, HostName, Plan, Role, SegmentName, Site, SiteName};

/// Interface names on deployed routers and NATed parties: the platform
/// modules turn predictable names off (`cloud-nat.nix`), so the first NIC
/// (public, or on a host without one the first private network) is `eth0`
/// and the next `eth1`, in the order the networks are attached.
pub const CLOUD_WAN: &str = "eth0";
pub const CLOUD_LAN: &str = "eth1";

/// A machine Terraform creates.
#[derive(Debug, Clone)]
pub struct CloudHost<'p> {
    pub host: &'p Host,
    pub platform: Platform,
    pub region: String,
    pub size: String,
    /// Has (and is reached at) a public IPv4 address.
    pub public: bool,
    /// Private networks it is attached to, in order, with its address there
    /// when the cloud lets e3 choose it (Hetzner).
    pub networks: Vec<(SegmentName, Option<Ipv4Addr>)>,
    /// The router (or carrier) whose network is its way out.
    pub gateway: Option<HostName>,
    /// Hosts Colmena and the installer jump through, outermost first.
    pub jump: Vec<HostName>,
}

/// A private network behind a router.
#[derive(Debug, Clone)]
pub struct Network {
    /// The plan segment it stands for (`lan-home`, `carrier-nbg`).
    pub name: SegmentName,
    pub platform: Platform,
    pub region: String,
    pub cidr: String,
    /// The router whose inside this is.
    pub router: HostName,
    /// The router's address on it, when e3 chooses it (Hetzner).
    pub router_address: Option<Ipv4Addr>,
}

impl Network {
    /// Hetzner's own gateway of the network: its first address.
    pub fn first_address(&self) -> Ipv4Addr {
        let base: Ipv4Addr = self
            .cidr
            .split('/')
            .next()
            .and_then(|a| a.parse().ok())
            .expect("plan segments are IPv4 CIDRs");
        Ipv4Addr::from(u32::from(base) + 1)
    }
}

/// How a site's NAT is reproduced, for the rendered README.
#[derive(Debug, Clone)]
pub struct SiteNote {
    pub site: SiteName,
    pub nat: Nat,
    pub how: String,
}

#[derive(Debug, Clone, Default)]
pub struct Cloud<'p> {
    pub hosts: Vec<CloudHost<'p>>,
    pub networks: Vec<Network>,
    pub notes: Vec<SiteNote>,
}

impl<'p> Cloud<'p> {
    pub fn host(&self, name: &str) -> Option<&CloudHost<'p>> {
        self.hosts.iter().find(|h| h.host.name == name)
    }

    pub fn network(&self, name: &SegmentName) -> Option<&Network> {
        self.networks.iter().find(|n| n.name == *name)
    }

    /// Deployed routers and carriers.
    pub fn routers(&self) -> impl Iterator<Item = &CloudHost<'p>> {
        self.hosts
            .iter()
            .filter(|h| matches!(h.host.role, Role::Router | Role::Carrier))
    }

    pub fn on(&self, platform: Platform) -> impl Iterator<Item = &CloudHost<'p>> {
        self.hosts.iter().filter(move |h| h.platform == platform)
    }
}

/// The platform all of a site's hosts share, when it is a cloud.
fn site_platform(plan: &Plan, site: &Site) -> Option<Platform> {
    let mut platforms = site
        .hosts
        .iter()
        .filter_map(|n| plan.host(n))
        .map(|h| h.platform.filter(|p| p.is_cloud() && h.deploy));
    let first = platforms.next()??;
    platforms.all(|p| p == Some(first)).then_some(first)
}

fn cidr_of(plan: &Plan, segment: &SegmentName) -> String {
    plan.segments
        .iter()
        .find(|s| s.name == *segment)
        .map(|s| s.cidr.clone())
        .expect("a site's segments are in the plan")
}

fn nth(cidr: &str, n: u32) -> Ipv4Addr {
    let base: Ipv4Addr = cidr
        .split('/')
        .next()
        .and_then(|a| a.parse().ok())
        .expect("IPv4 CIDR");
    Ipv4Addr::from(u32::from(base) + n)
}

/// The carrier network of a `cgnat` site in the cloud: clouds accept only
/// RFC 1918 ranges, so not the plan's `100.64.0.0/10` but `10.127.N.0/24`
/// (below the plan's private LANs, `10.128.0.0/9`).
fn cloud_carrier_cidr(index: u32) -> String {
    format!("10.127.{index}.0/24")
}

pub fn cloud(plan: &Plan) -> Cloud<'_> {
    let mut cloud = Cloud::default();
    for h in plan.hosts.iter().filter(|h| h.deploy && h.region.is_some()) {
        if let Some(p) = h.platform.filter(|p| p.is_cloud()) {
            cloud.hosts.push(CloudHost {
                host: h,
                platform: p,
                region: h.region.clone().unwrap_or_default(),
                size: h.size.clone().unwrap_or_default(),
                public: true,
                networks: Vec::new(),
                gateway: None,
                jump: Vec::new(),
            });
        }
    }
    let mut carriers = 0;
    for site in &plan.sites {
        let Some(platform) = site_platform(plan, site) else {
            if site.nat != Nat::Firewall {
                cloud.notes.push(SiteNote {
                    site: site.name.clone(),
                    nat: site.nat,
                    how: "not reproduced: a party of the site is not a cloud machine, so its own network is what it sits behind".into(),
                });
            }
            continue;
        };
        if site.nat == Nat::Firewall {
            cloud.notes.push(SiteNote {
                site: site.name.clone(),
                nat: site.nat,
                how: "the party's own stateful firewall (NixOS's nftables firewall) drops unsolicited inbound traffic; it keeps its public address, and SSH stays open for Colmena".into(),
            });
            continue;
        }
        let router = plan
            .host(&site.router)
            .expect("a site's router is in the plan");
        let region = site
            .region
            .clone()
            .or_else(|| router.region.clone())
            .unwrap_or_default();
        let small = platform
            .smallest_size()
            .expect("cloud platforms have sizes")
            .slug
            .to_string();
        let hetzner = platform == Platform::Hetzner;
        let lan_name = SegmentName::Lan(site.name.clone());
        let lan_cidr = cidr_of(plan, &lan_name);
        // Hetzner's gateway is the network's first address (the plan's
        // router address): the router takes the last one instead.
        let lan_router_ip = hetzner.then(|| nth(&lan_cidr, 254));
        let mut router_networks = Vec::new();
        let mut router_public = true;
        let mut jump_to_router = Vec::new();
        let two_layers = site.nat == Nat::Cgnat && hetzner;
        if two_layers {
            let carrier_name = site.carrier.clone().expect("a cgnat site has a carrier");
            let carrier = plan.host(&carrier_name).expect("carrier in plan");
            let cidr = cloud_carrier_cidr(carriers);
            carriers += 1;
            // Not the plan's carrier segment: a cloud network of its own CIDR.
            let net = SegmentName::Carrier(site.name.clone());
            cloud.networks.push(Network {
                name: net.clone(),
                platform,
                region: region.clone(),
                cidr: cidr.clone(),
                router: carrier_name.clone(),
                router_address: Some(nth(&cidr, 254)),
            });
            cloud.hosts.push(CloudHost {
                host: carrier,
                platform,
                region: region.clone(),
                size: small.clone(),
                public: true,
                networks: vec![(net.clone(), Some(nth(&cidr, 254)))],
                gateway: None,
                jump: Vec::new(),
            });
            router_networks.push((net, Some(nth(&cidr, 2))));
            router_public = false;
            jump_to_router.push(carrier_name.clone());
        }
        router_networks.push((lan_name.clone(), lan_router_ip));
        cloud.networks.push(Network {
            name: lan_name.clone(),
            platform,
            region: region.clone(),
            cidr: lan_cidr.clone(),
            router: router.name.clone(),
            router_address: lan_router_ip,
        });
        cloud.hosts.push(CloudHost {
            host: router,
            platform,
            region: region.clone(),
            size: small,
            public: router_public,
            networks: router_networks,
            gateway: site.carrier.clone().filter(|_| two_layers),
            jump: jump_to_router.clone(),
        });
        let mut jump_to_party = jump_to_router;
        jump_to_party.push(router.name.clone());
        for name in &site.hosts {
            let party = plan.host(name).expect("site hosts are in the plan");
            let address = party
                .interfaces
                .iter()
                .find(|i| i.segment == lan_name)
                .map(|i| i.address);
            if let Some(c) = cloud.hosts.iter_mut().find(|c| c.host.name == *name) {
                // DigitalOcean gives every Droplet a public address; the
                // party's configuration leaves it unconfigured.
                c.public = false;
                c.networks = vec![(lan_name.clone(), address.filter(|_| hetzner))];
                c.gateway = Some(router.name.clone());
                c.jump = jump_to_party.clone();
            }
        }
        let how = match (site.nat, platform) {
            (Nat::Cgnat, Platform::Hetzner) => format!(
                "two routers, `{}` (carrier, public) and `{}` (home, no public address), each with the `easy` rules of nat.rs; the parties are on the network `{lan_name}` whose only route out is the home router, which reaches the internet through the carrier network",
                site.carrier.as_deref().unwrap_or_default(),
                router.name
            ),
            (Nat::Cgnat, _) => format!(
                "one layer only: `{}` with the `easy` rules of nat.rs (a Droplet belongs to one VPC, so the carrier layer cannot be built); the parties' only way out is that router",
                router.name
            ),
            (Nat::OneToOne, _) => format!(
                "`{}` maps its public address 1:1 to the party (the `one2one` rules of nat.rs)",
                router.name
            ),
            (nat, _) => format!(
                "`{}` runs the `{nat}` rules of nat.rs; the parties' only way out is that router",
                router.name
            ),
        };
        cloud.notes.push(SiteNote {
            site: site.name.clone(),
            nat: site.nat,
            how,
        });
    }
    cloud
}

/// The nftables body of a deployed router: `nat.rs`'s rules for it between
/// [`CLOUD_WAN`] and [`CLOUD_LAN`], with the router's public address as
/// `0.0.0.0` (it is known only after Terraform; the Nix side substitutes
/// it), and one addition: SSH to the router itself stays open on its WAN,
/// because Colmena and the installer reach it (and, through it, the
/// parties) over SSH. Forwarded traffic is filtered exactly as in the lab.
pub fn router_rules(plan: &Plan, host: &Host) -> Option<String> {
    let nat = crate::nat::router(plan, host)?;
    let inside: Vec<Ipv4Addr> = nat.inside.clone();
    let body = crate::nat::ruleset_body(
        nat.nat,
        CLOUD_WAN,
        CLOUD_LAN,
        Ipv4Addr::UNSPECIFIED,
        &inside,
    );
    let input = "    type filter hook input priority 0; policy accept;\n";
    let ssh = format!("    iifname \"{CLOUD_WAN}\" tcp dport 22 accept\n");
    Some(body.replacen(input, &format!("{input}{ssh}"), 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(name: &str) -> Plan {
        let checked = crate::check_arg(name);
        crate::plan::plan(
            &checked
                .into_scenario()
                .expect("bundled scenarios are valid"),
        )
    }

    #[test]
    fn headscale_nat_has_both_routers_and_their_networks() {
        let p = plan("headscale-nat");
        let c = cloud(&p);
        for (router, lan) in [("home-router", "lan-home"), ("office-router", "lan-office")] {
            let r = c.host(router).expect(router);
            assert!(r.public);
            assert_eq!(r.size, "s-1vcpu-512mb-10gb");
            let lan = SegmentName::parse(lan).expect("a segment name");
            assert_eq!(c.network(&lan).map(|n| n.router.as_str()), Some(router));
        }
        let home = c.host("home").unwrap();
        assert!(!home.public);
        assert_eq!(home.jump, ["home-router"]);
        assert_eq!(home.gateway.as_deref(), Some("home-router"));
        assert!(c.host("fra").unwrap().public);
    }

    #[test]
    fn hetzner_cgnat_is_two_routers() {
        let p = plan("wireguard-hub");
        let c = cloud(&p);
        let home = c.host("nbg-router").unwrap();
        assert!(!home.public);
        assert_eq!(home.jump, ["nbg-carrier"]);
        assert_eq!(home.networks.len(), 2);
        let party = c.host("nbg").unwrap();
        assert_eq!(party.jump, ["nbg-carrier", "nbg-router"]);
        assert_eq!(
            c.network(&SegmentName::Lan("nbg".into()))
                .unwrap()
                .router_address,
            Some(Ipv4Addr::new(10, 128, 2, 254))
        );
        assert!(c.networks.iter().all(|n| n.cidr.starts_with("10.")));
    }

    #[test]
    fn router_rules_keep_ssh_and_the_lab_forwarding() {
        let p = plan("headscale-nat");
        let r = router_rules(&p, p.host("office-router").unwrap()).unwrap();
        assert!(r.contains("masquerade random"), "{r}");
        assert!(r.contains("iifname \"eth0\" tcp dport 22 accept"), "{r}");
        let lab = crate::nat::router(&p, p.host("office-router").unwrap())
            .unwrap()
            .body();
        // Only the SSH line differs (and the interface names).
        let lab = lab
            .replace("\"wan\"", "\"eth0\"")
            .replace("\"lan\"", "\"eth1\"");
        assert_eq!(
            r.replace("    iifname \"eth0\" tcp dport 22 accept\n", ""),
            lab
        );
    }
}
