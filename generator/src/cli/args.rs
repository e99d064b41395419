//! The command line's definition (clap): every command, its options and
//! its `--help` text. The commands themselves are the sibling modules.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

const EXAMPLES: &str = "\
Examples:
  e3 list                                   bundled scenarios
  e3 check                                  validate every bundled scenario
  e3 check my-exp.yaml                      validate a scenario file
  e3 show nebula-nat                        hosts, roles and addresses of a scenario
  e3 render tailscale-3region               write out/tailscale-3region/
  e3 keys nebula-nat                        generate key material into secrets/nebula-nat/
  e3 new my-exp --from tailscale-3region    fork a scenario into my-exp.yaml
  e3 graph nebula-nat --format dot | dot -Tsvg > nebula-nat.svg

NAME is a bundled scenario (see `e3 list`) or a path to a scenario file.";

/// Declarative testbed generator for multiparty-computation experiments.
///
/// One scenario file (parties, regions, platforms, NAT types, connectivity
/// backend, MPyC program) becomes a pinned Nix flake, a Colmena hive,
/// Terraform, a NixOS VM test and a local NAT lab.
#[derive(Parser)]
#[command(name = "e3", version, after_help = EXAMPLES, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum LabCommand {
    /// Build the lab, start the overlay, wait until it is up, and leave it running
    Up {
        /// Bundled scenario name or path to a scenario file
        scenario: String,
        /// The lab's name [default: the scenario's name]
        #[arg(long)]
        name: Option<String>,
        /// Print the hosts and segments as JSON
        #[arg(long)]
        json: bool,
        /// Seconds to wait for the overlay (1 to 86400)
        #[arg(long, default_value_t = 60, value_parser = timeout_parser())]
        timeout: u64,
        /// How to apply `simulation.latency`: netem or none (e3's delay line needs a running e3) [default: netem where the kernel has it]
        #[arg(long, value_name = "METHOD", value_parser = ["netem", "nfqueue", "none"])]
        latency: Option<String>,
    },
    /// Run a command in a host's namespace; its exit status is e3's
    Exec {
        name: String,
        host: String,
        /// The command and its arguments (after `--`)
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// An interactive shell in a host's namespace
    Shell { name: String, host: String },
    /// Run the scenario's program on the live lab and print the report `e3 sim` prints
    Run {
        name: String,
        #[arg(long)]
        json: bool,
        /// Seconds the program may take (1 to 86400)
        #[arg(long, default_value_t = 60, value_parser = timeout_parser())]
        timeout: u64,
    },
    /// Capture packets into a pcap file: WHERE is `internet`, a site or a host
    Capture {
        name: String,
        #[arg(value_name = "WHERE")]
        place: String,
        /// The pcap file [default: WHERE.pcap]
        #[arg(short = 'w', value_name = "FILE")]
        write: Option<PathBuf>,
        /// Seconds to capture [default: until Ctrl-C]
        #[arg(long, value_name = "S")]
        duration: Option<f64>,
        /// A pcap filter expression, e.g. `udp port 4242`
        #[arg(long, value_name = "EXPR")]
        filter: Option<String>,
    },
    /// Inject a fault: link-down, link-up, kill, restart, rebind, readdress
    Fault {
        name: String,
        /// link-down | link-up | kill | restart | rebind | readdress
        action: String,
        /// A host, router or carrier of the lab
        target: String,
    },
    /// The running labs
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Tear a lab down (or every lab `e3 lab up` started, with --all)
    Down {
        #[arg(required_unless_present = "all")]
        name: Option<String>,
        #[arg(long, conflicts_with = "name")]
        all: bool,
    },
}

#[derive(Subcommand)]
pub enum Command {
    /// List the bundled scenarios, or the variants of a matrix scenario
    List {
        /// List the variants of this matrix scenario (bundled name or path)
        #[arg(long, value_name = "NAME")]
        variants: Option<String>,
    },
    /// Show the plan of a scenario: hosts, roles, addresses
    Show {
        /// Bundled scenario name or path to a scenario file
        name: String,
        /// Print the plan as JSON (the same as the rendered scenario.json)
        #[arg(long)]
        json: bool,
    },
    /// Validate scenarios and report every problem
    #[command(
        after_help = "Without arguments, checks every bundled scenario.\nExit status: 0 when valid (warnings allowed), 2 when any scenario has an error."
    )]
    Check {
        /// Bundled scenario names or paths to scenario files
        names: Vec<String>,
        /// Print diagnostics as JSON lines
        #[arg(long)]
        json: bool,
    },
    /// Render a scenario into a directory
    Render {
        /// Bundled scenario name or path to a scenario file
        name: String,
        /// Output directory [default: out/NAME]
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Key material directory whose `public/` is copied into `public-keys/` [default: secrets/NAME]
        #[arg(long)]
        secrets: Option<PathBuf>,
    },
    /// Generate the backend's key material into secrets/NAME (never printed)
    #[command(
        after_help = "Idempotent: complete material is kept (\"up to date\"); missing material is added.\nExit status: 0 on success, 1 when a tool fails or material is incomplete (use --rotate), 2 for an invalid scenario."
    )]
    Keys {
        /// Bundled scenario name or path to a scenario file
        name: String,
        /// Replace all existing key material with new keys
        #[arg(long)]
        rotate: bool,
        /// Where to write [default: secrets/NAME]
        #[arg(long)]
        secrets: Option<PathBuf>,
    },
    /// Start a new scenario file from an existing one
    New {
        /// Name of the new scenario (also its file name, NAME.yaml)
        name: String,
        /// Scenario to start from (bundled name or path)
        #[arg(long)]
        from: String,
        /// Write a standalone copy instead of a fork that `extends` the base
        #[arg(long)]
        copy: bool,
        /// Where to write [default: ./NAME.yaml]
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Overwrite an existing file
        #[arg(long)]
        force: bool,
    },
    /// Draw the simulated topology
    Graph {
        /// Bundled scenario name or path to a scenario file
        name: String,
        #[arg(long, value_enum, default_value_t = GraphFormat::Mermaid)]
        format: GraphFormat,
    },
    /// Run a scenario in a local NAT lab (network namespaces, root) and report
    #[command(
        after_help = "Runs the plan in Linux network namespaces with real NAT (nftables), the real overlay daemons and the real MPyC program, then tears everything down.\nExit status: 0 when the program succeeded on every party (inverted by --expect-failure), 1 otherwise, 2 for an invalid scenario."
    )]
    Sim {
        /// Bundled scenario name or path to a scenario file
        #[arg(required_unless_present = "cleanup")]
        name: Option<String>,
        /// Print the report as JSON
        #[arg(long)]
        json: bool,
        /// Exit 0 when the run fails (for baselines such as `direct-lan`)
        #[arg(long)]
        expect_failure: bool,
        /// Seconds to wait for the overlay, and again for the MPyC run (1 to 86400)
        #[arg(long, default_value_t = 60, value_parser = timeout_parser())]
        timeout: u64,
        /// Remove namespaces, processes and files left by crashed labs
        #[arg(long, conflicts_with_all = ["name", "json", "expect_failure"])]
        cleanup: bool,
        /// How to apply `simulation.latency` [default: netem where the kernel has it, else e3's delay line]
        #[arg(long, value_name = "METHOD", value_parser = ["netem", "nfqueue", "none"])]
        latency: Option<String>,
        /// A test fault (e3's own tests: kill-coordinator, kill-coordinator-after-overlay, different-program:HOST)
        #[arg(long, hide = true, value_name = "FAULT")]
        test_fault: Option<String>,
    },
    /// Keep a lab up and work inside it: up, exec, shell, run, capture, fault, status, down
    #[command(
        after_help = "A lab stays up between commands (root, as `e3 sim`): `e3 lab up nebula-nat`, then
`e3 lab exec nebula-nat alice -- ping -c1 100.64.0.3`, `e3 lab capture nebula-nat internet -w x.pcap --duration 3`,
`e3 lab fault nebula-nat rebind alice-router`, `e3 lab down nebula-nat`.
One lab per name (default: the scenario's name); its record is /run/e3/e3-XXXX.lab."
    )]
    Lab {
        #[command(subcommand)]
        command: LabCommand,
    },
    /// Run every variant of a matrix scenario in the local NAT lab and draw the grid
    #[command(
        after_help = "Runs the variants one after another (root, as `e3 sim`), each cell bounded by --timeout per phase.\nWrites results/NAME/grid.json, grid.svg and grid.html after every run (and plot.svg, plot.html for a\nmatrix with a count, placement or loss axis); Ctrl-C keeps finished runs. With --runs N every cell runs\nN times. Cells that differ only in their program, and the runs of a cell, share a lab (built once;\n--fresh-labs: a lab per run); a lab is torn down while the next comes up. Runs are cached by the\nvariant's content hash: a re-run only runs what changed or what is missing.\nExit status: 0 when every cell has a result (failed cells are results), 1 when the lab could not run some cell, 2 for an invalid scenario."
    )]
    Grid {
        /// A matrix scenario (bundled name or path)
        name: String,
        /// Seconds each cell may wait for the overlay, and again for the MPyC run (1 to 86400)
        #[arg(long, default_value_t = 20, value_parser = timeout_parser())]
        timeout: u64,
        /// Ignore cached cells and run every one again
        #[arg(long)]
        fresh: bool,
        /// Only the variants with this setting, e.g. `backend=nebula` (repeat; values of one key are alternatives)
        #[arg(long, value_name = "KEY=VALUE")]
        only: Vec<String>,
        /// Output directory [default: results/NAME]
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Print grid.json to stdout when done
        #[arg(long)]
        json: bool,
        /// How to apply `simulation.latency`, as for `e3 sim`
        #[arg(long, value_name = "METHOD", value_parser = ["netem", "nfqueue", "none"])]
        latency: Option<String>,
        /// Run every cell N times (1 to 100); cached runs are kept
        #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=100))]
        runs: u16,
        /// A fresh lab for every run, torn down before the next starts (no shared or overlapped labs)
        #[arg(long)]
        fresh_labs: bool,
        /// Labs at a time (1 to 8): faster, but runs of different labs then share the machine, so their times are not clean
        #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=8))]
        jobs: u8,
    },
    /// Provision, deploy and run a scenario on real machines
    #[command(
        after_help = "Steps: keys, render; phase 1: the generic base image, terraform init/apply (NAT routers\nand private networks included), hosts.json; phase 2: colmena apply (routers, a Headscale\ncontrol server and its pre-auth key, then every host); run the program on every party, fetch\nresults into results/NAME/<timestamp>/. Asks before creating machines unless --yes.\nCredentials come from the environment (DIGITALOCEAN_TOKEN, SPACES_ACCESS_KEY_ID,\nSPACES_SECRET_ACCESS_KEY, HCLOUD_TOKEN, TAILSCALE_API_KEY, TAILSCALE_TAILNET)."
    )]
    Deploy {
        /// Bundled scenario name or path to a scenario file
        name: String,
        /// Print every command in order, by phase, with the estimated cost; run nothing
        #[arg(long)]
        dry_run: bool,
        /// Create the machines without asking (needed when stdin is not a terminal)
        #[arg(long)]
        yes: bool,
        /// SSH public key authorised on every host [default: ~/.ssh/id_ed25519.pub]
        #[arg(long)]
        ssh_key: Option<PathBuf>,
    },
    /// Destroy the machines a deployment provisioned
    Destroy {
        /// Bundled scenario name or path to a scenario file
        name: String,
        /// Print the commands, run nothing
        #[arg(long)]
        dry_run: bool,
        /// The SSH public key given to `e3 deploy` [default: ~/.ssh/id_ed25519.pub]
        #[arg(long)]
        ssh_key: Option<PathBuf>,
    },
    /// Print shell completions
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Longest `--timeout`: one day (a lab phase never needs more; larger
/// values would overflow the deadlines).
const MAX_TIMEOUT_S: u64 = 86_400;

fn timeout_parser() -> clap::builder::RangedU64ValueParser<u64> {
    clap::value_parser!(u64).range(1..=MAX_TIMEOUT_S)
}

#[derive(Clone, Copy, ValueEnum)]
pub enum GraphFormat {
    Mermaid,
    Dot,
}
