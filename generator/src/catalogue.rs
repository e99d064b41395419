//! Built-in facts: backends, NAT types, platforms and their regions.
//!
//! Coordinates are those of the data-centre city (WGS 84, degrees), used for
//! the latency model in [`crate::plan`].

use std::fmt;

use serde::Serialize;

macro_rules! keyword_enum {
    ($(#[$meta:meta])* $name:ident { $( $variant:ident = $text:literal ),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        pub enum $name { $( #[serde(rename = $text)] $variant, )* }

        impl $name {
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )* ];
            pub fn as_str(self) -> &'static str { match self { $( $name::$variant => $text, )* } }
            pub fn parse(s: &str) -> Option<Self> { match s { $( $text => Some($name::$variant), )* _ => None } }
            pub fn names() -> impl Iterator<Item = &'static str> { Self::ALL.iter().map(|v| v.as_str()) }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

keyword_enum! {
    /// How the parties reach each other.
    Backend {
        Tailscale = "tailscale",
        Headscale = "headscale",
        Nebula = "nebula",
        Wireguard = "wireguard",
        Tinc = "tinc",
        Openvpn = "openvpn",
        Direct = "direct",
    }
}

keyword_enum! {
    /// Whether traffic may go through a relay when a direct path fails.
    Relay {
        Auto = "auto",
        Always = "always",
        Never = "never",
    }
}

keyword_enum! {
    /// NAT in front of a party (names follow Tailscale's natlab).
    Nat {
        None = "none",
        Firewall = "firewall",
        OneToOne = "one2one",
        Easy = "easy",
        EasyAf = "easyaf",
        Hard = "hard",
        Cgnat = "cgnat",
    }
}

keyword_enum! {
    /// Where a party runs.
    Platform {
        DigitalOcean = "digitalocean",
        Hetzner = "hetzner",
        RaspberryPi = "raspberry-pi",
        Existing = "existing",
    }
}

impl Nat {
    /// A one-line description for docs, `e3 show` and the report.
    pub fn describe(self) -> &'static str {
        match self {
            Nat::None => "public address, no filtering",
            Nat::Firewall => "public address behind a stateful firewall",
            Nat::OneToOne => "1:1 static NAT, no filtering",
            Nat::Easy => "endpoint-independent mapping, address-and-port-dependent filtering",
            Nat::EasyAf => "endpoint-independent mapping, address-dependent filtering",
            Nat::Hard => "endpoint-dependent mapping (random port per destination)",
            Nat::Cgnat => "home router behind a carrier-grade NAT (two layers of easy)",
        }
    }

    /// True when unsolicited inbound connections cannot reach the party.
    pub fn filters_inbound(self) -> bool {
        !matches!(self, Nat::None | Nat::OneToOne)
    }
}

/// A data-centre region.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Region {
    pub slug: &'static str,
    pub city: &'static str,
    pub country: &'static str,
    pub lat: f64,
    pub lon: f64,
}

const fn r(
    slug: &'static str,
    city: &'static str,
    country: &'static str,
    lat: f64,
    lon: f64,
) -> Region {
    Region {
        slug,
        city,
        country,
        lat,
        lon,
    }
}

/// DigitalOcean regions (slugs as the API and Terraform provider use them).
pub const DIGITALOCEAN_REGIONS: &[Region] = &[
    r("ams3", "Amsterdam", "NL", 52.37, 4.90),
    r("atl1", "Atlanta", "US", 33.75, -84.39),
    r("blr1", "Bangalore", "IN", 12.97, 77.59),
    r("fra1", "Frankfurt", "DE", 50.11, 8.68),
    r("lon1", "London", "GB", 51.51, -0.13),
    r("nyc1", "New York", "US", 40.71, -74.01),
    r("nyc2", "New York", "US", 40.71, -74.01),
    r("nyc3", "New York", "US", 40.71, -74.01),
    r("sfo2", "San Francisco", "US", 37.77, -122.42),
    r("sfo3", "San Francisco", "US", 37.77, -122.42),
    r("sgp1", "Singapore", "SG", 1.35, 103.82),
    r("syd1", "Sydney", "AU", -33.87, 151.21),
    r("tor1", "Toronto", "CA", 43.65, -79.38),
];

/// Hetzner Cloud locations.
pub const HETZNER_REGIONS: &[Region] = &[
    r("ash", "Ashburn", "US", 39.04, -77.49),
    r("fsn1", "Falkenstein", "DE", 50.48, 12.37),
    r("hel1", "Helsinki", "FI", 60.17, 24.94),
    r("hil", "Hillsboro", "US", 45.52, -122.99),
    r("nbg1", "Nuremberg", "DE", 49.45, 11.08),
    r("sin", "Singapore", "SG", 1.35, 103.82),
];

/// What e3 knows about a platform.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PlatformFacts {
    pub platform: Platform,
    /// Nix system of the machines.
    pub system: &'static str,
    /// Terraform provider that provisions it, if any.
    pub provider: Option<&'static str>,
    /// Reusable Terraform module under `terraform/`, if any.
    pub terraform_module: Option<&'static str>,
    /// NixOS profile module under `modules/platforms/`.
    pub nixos_module: &'static str,
    /// The image the platform boots from, if e3 builds one.
    pub image: Option<&'static str>,
    pub default_size: Option<&'static str>,
    /// Whether a party on this platform must give its `address`.
    pub needs_address: bool,
    /// User Colmena connects as.
    pub target_user: &'static str,
}

impl Platform {
    pub fn facts(self) -> PlatformFacts {
        match self {
            Platform::DigitalOcean => PlatformFacts {
                platform: self,
                system: "x86_64-linux",
                provider: Some("digitalocean"),
                terraform_module: Some("digitalocean-nixos"),
                nixos_module: "platforms/digitalocean.nix",
                image: Some("digital-ocean"),
                default_size: Some("s-1vcpu-1gb"),
                needs_address: false,
                target_user: "root",
            },
            Platform::Hetzner => PlatformFacts {
                platform: self,
                system: "x86_64-linux",
                provider: Some("hcloud"),
                terraform_module: Some("hetzner-nixos"),
                nixos_module: "platforms/hetzner.nix",
                image: None,
                default_size: Some("cx23"),
                needs_address: false,
                target_user: "root",
            },
            Platform::RaspberryPi => PlatformFacts {
                platform: self,
                system: "aarch64-linux",
                provider: None,
                terraform_module: None,
                nixos_module: "platforms/raspberry-pi.nix",
                image: Some("sd-card"),
                default_size: None,
                needs_address: true,
                target_user: "root",
            },
            Platform::Existing => PlatformFacts {
                platform: self,
                system: "x86_64-linux",
                provider: None,
                terraform_module: None,
                nixos_module: "platforms/existing.nix",
                image: None,
                default_size: None,
                needs_address: true,
                target_user: "root",
            },
        }
    }

    /// Regions the platform offers; empty for platforms that are not clouds.
    pub fn regions(self) -> &'static [Region] {
        match self {
            Platform::DigitalOcean => DIGITALOCEAN_REGIONS,
            Platform::Hetzner => HETZNER_REGIONS,
            Platform::RaspberryPi | Platform::Existing => &[],
        }
    }

    pub fn is_cloud(self) -> bool {
        !self.regions().is_empty()
    }

    pub fn title(self) -> &'static str {
        match self {
            Platform::DigitalOcean => "DigitalOcean",
            Platform::Hetzner => "Hetzner Cloud",
            Platform::RaspberryPi => "Raspberry Pi",
            Platform::Existing => "existing host",
        }
    }
}

/// A machine size a cloud offers, with its list price.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Size {
    pub slug: &'static str,
    pub vcpus: u32,
    pub memory_gb: f64,
    /// Nix system of the size's CPU architecture.
    pub system: &'static str,
    /// List price per hour, in `currency`, before tax.
    pub hourly: f64,
    pub currency: &'static str,
}

const fn size(
    slug: &'static str,
    vcpus: u32,
    memory_gb: f64,
    system: &'static str,
    hourly: f64,
    currency: &'static str,
) -> Size {
    Size {
        slug,
        vcpus,
        memory_gb,
        system,
        hourly,
        currency,
    }
}

/// DigitalOcean Basic (shared CPU, regular) Droplet sizes: the slugs of the
/// API's `/v2/sizes`, hourly prices of DigitalOcean's pricing page
/// ($4, $6, $12, $18, $24, $48 a month).
pub const DIGITALOCEAN_SIZES: &[Size] = &[
    size("s-1vcpu-512mb-10gb", 1, 0.5, "x86_64-linux", 0.00595, "USD"),
    size("s-1vcpu-1gb", 1, 1.0, "x86_64-linux", 0.00893, "USD"),
    size("s-1vcpu-2gb", 1, 2.0, "x86_64-linux", 0.01786, "USD"),
    size("s-2vcpu-2gb", 2, 2.0, "x86_64-linux", 0.02679, "USD"),
    size("s-2vcpu-4gb", 2, 4.0, "x86_64-linux", 0.03571, "USD"),
    size("s-4vcpu-8gb", 4, 8.0, "x86_64-linux", 0.07143, "USD"),
];

/// Hetzner Cloud shared server types offered since the end of 2025 (CX Gen 3
/// cost-optimised, CPX Gen 2 AMD, CAX Arm), hourly prices in EUR without VAT.
/// e3's Hetzner platform module is x86_64, so `cax*` types are listed for
/// the hint only and rejected for `platform: hetzner` (see `sizes_for`).
pub const HETZNER_SIZES: &[Size] = &[
    size("cx23", 2, 4.0, "x86_64-linux", 0.006, "EUR"),
    size("cx33", 4, 8.0, "x86_64-linux", 0.011, "EUR"),
    size("cx43", 8, 16.0, "x86_64-linux", 0.021, "EUR"),
    size("cpx22", 3, 4.0, "x86_64-linux", 0.008, "EUR"),
    size("cpx32", 4, 8.0, "x86_64-linux", 0.016, "EUR"),
    size("cax11", 2, 4.0, "aarch64-linux", 0.004, "EUR"),
    size("cax21", 4, 8.0, "aarch64-linux", 0.007, "EUR"),
    size("cax31", 8, 16.0, "aarch64-linux", 0.013, "EUR"),
];

/// Sizes a provider no longer offers, with the current size that replaces
/// each: Hetzner removed CX Gen 2 and CPX Gen 1 at the end of 2025.
pub const REMOVED_SIZES: &[(Platform, &str, &str)] = &[
    (Platform::Hetzner, "cx22", "cx23"),
    (Platform::Hetzner, "cx32", "cx33"),
    (Platform::Hetzner, "cx42", "cx43"),
    (Platform::Hetzner, "cpx21", "cpx22"),
    (Platform::Hetzner, "cpx31", "cpx32"),
];

impl Platform {
    /// The machine sizes e3 knows for a cloud platform (empty otherwise).
    pub fn sizes(self) -> &'static [Size] {
        match self {
            Platform::DigitalOcean => DIGITALOCEAN_SIZES,
            Platform::Hetzner => HETZNER_SIZES,
            Platform::RaspberryPi | Platform::Existing => &[],
        }
    }

    /// Sizes a host of this platform may use: those of its Nix system.
    pub fn usable_sizes(self) -> impl Iterator<Item = &'static Size> {
        let system = self.facts().system;
        self.sizes().iter().filter(move |s| s.system == system)
    }

    pub fn find_size(self, slug: &str) -> Option<&'static Size> {
        self.usable_sizes().find(|s| s.slug == slug)
    }

    /// The size that replaced a removed one.
    pub fn replacement(self, slug: &str) -> Option<&'static str> {
        REMOVED_SIZES
            .iter()
            .find(|(p, old, _)| *p == self && *old == slug)
            .map(|(_, _, new)| *new)
    }

    /// The cheapest usable size: what a deployed NAT router gets.
    pub fn smallest_size(self) -> Option<&'static Size> {
        self.usable_sizes()
            .min_by(|a, b| a.hourly.total_cmp(&b.hourly))
    }
}

/// Every region of every cloud, for location hints of non-cloud parties.
pub fn all_regions() -> impl Iterator<Item = (Platform, &'static Region)> {
    Platform::ALL
        .iter()
        .flat_map(|p| p.regions().iter().map(move |r| (*p, r)))
}

pub fn find_region(slug: &str) -> Option<(Platform, &'static Region)> {
    all_regions().find(|(_, r)| r.slug == slug)
}

/// Ports e3 uses, fixed so that rendered configs and the lab agree.
pub mod ports {
    /// MPyC's default base port.
    pub const MPYC: u16 = 11365;
    pub const NEBULA: u16 = 4242;
    pub const WIREGUARD: u16 = 51820;
    pub const TINC: u16 = 655;
    pub const OPENVPN: u16 = 1194;
    pub const TAILSCALE: u16 = 41641;
    pub const HEADSCALE_HTTPS: u16 = 443;
    pub const STUN: u16 = 3478;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_replacement_sizes_are_offered() {
        for p in Platform::ALL {
            if let Some(d) = p.facts().default_size {
                assert!(p.find_size(d).is_some(), "{p}: default `{d}`");
            }
        }
        for (p, old, new) in REMOVED_SIZES {
            assert!(p.find_size(old).is_none(), "{old} is removed");
            assert!(p.find_size(new).is_some(), "{new} replaces {old}");
        }
        assert_eq!(
            Platform::DigitalOcean.smallest_size().map(|s| s.slug),
            Some("s-1vcpu-512mb-10gb")
        );
        assert_eq!(
            Platform::Hetzner.smallest_size().map(|s| s.slug),
            Some("cx23")
        );
        // Arm types exist but not for the x86_64 Hetzner module.
        assert!(Platform::Hetzner.find_size("cax11").is_none());
    }
}
