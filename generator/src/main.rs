//! The `e3` command line.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use e3::bundled;
use e3::diag::Diagnostics;
use e3::load::ScenarioRef;
use e3::plan::{self, Plan, Role};
use e3::source::Sources;

/// Exit code for invalid scenarios and bad usage.
const EXIT_INVALID: u8 = 2;
/// Exit code for a failure of the environment (IO).
const EXIT_FAILURE: u8 = 1;
/// Exit code after SIGINT, SIGTERM or SIGHUP (128 + SIGINT, as shells use).
const EXIT_INTERRUPTED: u8 = 130;

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
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum LabCommand {
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
enum Command {
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
        after_help = "Runs the variants one after another (root, as `e3 sim`), each cell bounded by --timeout per phase.\nWrites results/NAME/grid.json, grid.svg and grid.html after every run (and plot.svg, plot.html for a\nmatrix with a count, placement or loss axis); Ctrl-C keeps finished runs. With --runs N every cell runs\nN times in fresh labs. Runs are cached by the variant's content hash: a re-run only runs what changed\nor what is missing.\nExit status: 0 when every cell has a result (failed cells are results), 1 when the lab could not run some cell, 2 for an invalid scenario."
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
        /// Run every cell N times, each in a fresh lab (1 to 100); cached runs are kept
        #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=100))]
        runs: u16,
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
enum GraphFormat {
    Mermaid,
    Dot,
}

fn main() -> ExitCode {
    // Like every Unix filter: a closed pipe ends the process quietly
    // (`e3 show x | head`), rather than a panic on the next print.
    // SAFETY: called first thing in main, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // The daemons `ci/install-deps` builds into `.tools/bin/` come before
    // the system's, for e3 and every program it starts.
    if let Some(path) = e3::tools::path_with(&e3::tools::tool_dirs(), std::env::var_os("PATH")) {
        // SAFETY: as above, no other thread exists yet.
        unsafe { std::env::set_var("PATH", path) };
    }
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprint!("{}", e3::error::render(&e));
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

fn print_diagnostics(diags: &Diagnostics, sources: &Sources) {
    let mut err = std::io::stderr().lock();
    for d in &diags.items {
        let _ = writeln!(err, "{}", d.render(sources));
    }
}

/// Loads and validates, printing diagnostics; the plan when valid.
fn load_plan(name: &str) -> Result<Plan, ExitCode> {
    let checked = e3::check_arg(name);
    print_diagnostics(&checked.diagnostics, &checked.sources);
    if let Some(m) = &checked.matrix {
        eprintln!(
            "error: `{name}` is a matrix of {} variants; name one, e.g. `{}`\n   = hint: `e3 list --variants {name}` lists them; `e3 grid {name}` runs them all in the lab; `e3 render {name}` renders them all",
            m.variants.len(),
            m.variants[0].scenario.name
        );
        return Err(ExitCode::from(EXIT_INVALID));
    }
    match checked.scenario {
        Some(s) => Ok(plan::plan(&s)),
        None => {
            let n = checked.diagnostics.error_count();
            eprintln!(
                "error: `{name}` is not a valid scenario ({n} error{})",
                if n == 1 { "" } else { "s" }
            );
            Err(ExitCode::from(EXIT_INVALID))
        }
    }
}

fn run(command: Command) -> Result<ExitCode, e3::error::Error> {
    match command {
        Command::List {
            variants: Some(name),
        } => {
            let checked = e3::check_arg(&name);
            print_diagnostics(&checked.diagnostics, &checked.sources);
            if !checked.is_valid() {
                eprintln!("error: `{name}` is not a valid scenario");
                return Ok(ExitCode::from(EXIT_INVALID));
            }
            let Some(m) = checked.matrix else {
                if let (base, Some(_)) = e3::matrix::split_arg(&name) {
                    eprintln!("error: `{name}` is one variant\n   = hint: `e3 list --variants {base}` lists them all");
                    return Ok(ExitCode::from(EXIT_INVALID));
                }
                eprintln!("error: `{name}` has no `matrix:`, so it has no variants\n   = hint: `matrix:` lists values of `backend`, `relay`, `loss` and `nat` to sweep; see the README's scenario reference");
                return Ok(ExitCode::from(EXIT_INVALID));
            };
            let mut out = std::io::stdout().lock();
            for v in &m.variants {
                let _ = writeln!(out, "{}", v.scenario.name);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::List { variants: None } => {
            let mut out = std::io::stdout().lock();
            for name in bundled::scenario_names() {
                let checked = e3::check(&ScenarioRef::Bundled(name.to_string()));
                match (checked.scenario, checked.matrix) {
                    (Some(s), _) => {
                        let hosts: usize = s.parties.iter().map(|p| p.host_count()).sum();
                        let _ = writeln!(
                            out,
                            "{name:<20} {:<10} {hosts:>3} parties  {}",
                            // a string: the backend's Display ignores widths
                            s.backend.to_string(),
                            s.description
                        );
                    }
                    (None, Some(m)) => {
                        let _ = writeln!(
                            out,
                            "{name:<20} {:<10} {:>3} variants {}",
                            "matrix",
                            m.variants.len(),
                            m.variants[0].scenario.description
                        );
                    }
                    (None, None) => {
                        let _ = writeln!(out, "{name:<20} (invalid: run `e3 check {name}`)");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Show { name, json } => {
            let checked = e3::check_arg(&name);
            if let (Some(m), false) = (&checked.matrix, json) {
                print_diagnostics(&checked.diagnostics, &checked.sources);
                let first = &m.variants[0].scenario;
                println!("{}: {}", m.base, first.description);
                println!(
                    "a matrix of {} variants; `e3 show '<variant>'` shows one\n",
                    m.variants.len()
                );
                for v in &m.variants {
                    println!("{}", v.scenario.name);
                }
                return Ok(ExitCode::SUCCESS);
            }
            let plan = match load_plan(&name) {
                Ok(p) => p,
                Err(code) => return Ok(code),
            };
            if json {
                print!("{}", plan.to_json());
            } else {
                print!("{}", show(&plan));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { names, json } => {
            let names = if names.is_empty() {
                bundled::scenario_names()
                    .into_iter()
                    .map(str::to_string)
                    .collect()
            } else {
                names
            };
            let mut failed = 0;
            for name in &names {
                let checked = e3::check_arg(name);
                if json {
                    for d in &checked.diagnostics.items {
                        println!("{}", d.to_json(&checked.sources));
                    }
                } else {
                    print_diagnostics(&checked.diagnostics, &checked.sources);
                }
                let warnings = checked.diagnostics.warning_count();
                let w = if warnings > 0 {
                    format!(
                        ", {warnings} warning{}",
                        if warnings == 1 { "" } else { "s" }
                    )
                } else {
                    String::new()
                };
                match (&checked.scenario, &checked.matrix) {
                    (Some(s), _) => {
                        let plan = plan::plan(s);
                        if !json {
                            println!("ok: {name} ({} hosts{w})", plan.hosts.len());
                        }
                    }
                    (None, Some(m)) => {
                        let hosts: Vec<usize> = m
                            .variants
                            .iter()
                            .map(|v| plan::plan(&v.scenario).hosts.len())
                            .collect();
                        let (lo, hi) = (
                            hosts.iter().min().unwrap_or(&0),
                            hosts.iter().max().unwrap_or(&0),
                        );
                        let range = if lo == hi {
                            format!("{lo}")
                        } else {
                            format!("{lo} to {hi}")
                        };
                        if !json {
                            println!(
                                "ok: {name} (matrix of {} variants, {range} hosts each{w})",
                                m.variants.len()
                            );
                        }
                    }
                    (None, None) => {
                        failed += 1;
                        let n = checked.diagnostics.error_count();
                        if !json {
                            eprintln!(
                                "error: {name}: {n} error{}{w}",
                                if n == 1 { "" } else { "s" }
                            );
                        }
                    }
                }
            }
            Ok(if failed > 0 {
                ExitCode::from(EXIT_INVALID)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Render {
            name,
            output,
            secrets,
        } => {
            if let Some(code) = render_matrix(&name, output.as_deref(), secrets.as_deref())? {
                return Ok(code);
            }
            let plan = match load_plan(&name) {
                Ok(p) => p,
                Err(code) => return Ok(code),
            };
            let dir = output.unwrap_or_else(|| e3::matrix::output_dir(&plan.name));
            let secrets_dir = secrets.unwrap_or_else(|| Path::new("secrets").join(&plan.name));
            let public = secrets_dir.join("public");
            let inputs = e3::render::read_inputs(&plan, &public)
                .map_err(|e| format!("cannot read the inputs of `{}`: {e}", plan.name))?;
            let files = e3::render::render_with(&plan, &inputs);
            e3::render::write_output(&dir, &files, Some(&secrets_dir))?;
            println!("rendered {} files into {}", files.len(), dir.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys {
            name,
            rotate,
            secrets,
        } => keys(&name, rotate, secrets),
        Command::New {
            name,
            from,
            copy,
            output,
            force,
        } => new(&name, &from, copy, output, force),
        Command::Graph { name, format } => {
            let plan = match load_plan(&name) {
                Ok(p) => p,
                Err(code) => return Ok(code),
            };
            print!(
                "{}",
                match format {
                    GraphFormat::Mermaid => e3::graph::mermaid(&plan),
                    GraphFormat::Dot => e3::graph::dot(&plan),
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Sim {
            name,
            json,
            expect_failure,
            timeout,
            cleanup,
            latency,
            test_fault,
        } => sim(
            name,
            json,
            expect_failure,
            timeout,
            cleanup,
            latency_method(latency)?,
            test_fault,
        ),
        Command::Lab { command } => lab(command),
        Command::Grid {
            name,
            timeout,
            fresh,
            only,
            output,
            json,
            latency,
            runs,
        } => grid(
            &name,
            GridArgs {
                timeout,
                fresh,
                only,
                output,
                json,
                latency: latency_method(latency)?,
                runs: usize::from(runs),
            },
        ),
        Command::Deploy {
            name,
            dry_run,
            yes,
            ssh_key,
        } => deploy(&name, dry_run, false, yes, ssh_key),
        Command::Destroy {
            name,
            dry_run,
            ssh_key,
        } => deploy(&name, dry_run, true, true, ssh_key),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "e3", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `e3 render` of a matrix scenario: every variant and an index.
/// `None` when `name` is not a (valid) matrix scenario.
fn render_matrix(
    name: &str,
    output: Option<&Path>,
    secrets: Option<&Path>,
) -> Result<Option<ExitCode>, e3::error::Error> {
    let checked = e3::check_arg(name);
    let Some(m) = &checked.matrix else {
        return Ok(None);
    };
    print_diagnostics(&checked.diagnostics, &checked.sources);
    let dir = output
        .map(Path::to_path_buf)
        .unwrap_or_else(|| Path::new("out").join(&m.base));
    let plans: Vec<Plan> = m.variants.iter().map(|v| plan::plan(&v.scenario)).collect();
    let mut inputs = Vec::new();
    for p in &plans {
        // One secrets directory per variant, as `e3 keys NAME@VARIANT` writes it.
        let public = secrets
            .map(|s| s.join(&p.name))
            .unwrap_or_else(|| Path::new("secrets").join(&p.name))
            .join("public");
        inputs.push(
            e3::render::read_inputs(p, &public)
                .map_err(|e| format!("cannot read the inputs of `{}`: {e}", p.name))?,
        );
    }
    let variants: Vec<e3::render::VariantRender> = m
        .variants
        .iter()
        .zip(&plans)
        .zip(&inputs)
        .map(|((v, plan), inputs)| e3::render::VariantRender {
            label: &v.label,
            settings: &v.settings,
            plan,
            inputs,
        })
        .collect();
    let description = m.variants[0].scenario.description.as_str();
    let files = e3::render::render_matrix(&m.base, description, &variants);
    e3::render::write_output(&dir, &files, secrets)?;
    println!(
        "rendered {} variants ({} files) into {}",
        variants.len(),
        files.len(),
        dir.display()
    );
    Ok(Some(ExitCode::SUCCESS))
}

/// `--latency METHOD` (clap checked the value).
fn latency_method(m: Option<String>) -> Result<Option<e3::sim::latency::Method>, e3::sim::Error> {
    m.map(|m| m.parse()).transpose()
}

/// `e3 grid`'s options.
struct GridArgs {
    timeout: u64,
    fresh: bool,
    only: Vec<String>,
    output: Option<PathBuf>,
    json: bool,
    latency: Option<e3::sim::latency::Method>,
    runs: usize,
}

/// `e3 grid`.
fn grid(name: &str, args: GridArgs) -> Result<ExitCode, e3::error::Error> {
    let GridArgs {
        timeout,
        fresh,
        only,
        output,
        json,
        latency,
        runs,
    } = args;
    let checked = e3::check_arg(name);
    print_diagnostics(&checked.diagnostics, &checked.sources);
    if !checked.is_valid() {
        let n = checked.diagnostics.error_count();
        eprintln!(
            "error: `{name}` is not a valid scenario ({n} error{})",
            if n == 1 { "" } else { "s" }
        );
        return Ok(ExitCode::from(EXIT_INVALID));
    }
    let Some(m) = checked.matrix else {
        if let (base, Some(sel)) = e3::matrix::split_arg(name) {
            eprintln!("error: `{name}` is one variant, not a grid\n   = hint: `e3 sim '{name}'` runs it; `e3 grid {base} --only …` runs part of the grid (e.g. `--only {}`)", sel.split(',').next().unwrap_or(sel));
            return Ok(ExitCode::from(EXIT_INVALID));
        }
        eprintln!("error: `{name}` has no `matrix:`, so there is no grid to run\n   = hint: `e3 sim {name}` runs one scenario; add `matrix:` (e.g. `matrix: {{ backend: [nebula, tinc] }}`) to sweep values");
        return Ok(ExitCode::from(EXIT_INVALID));
    };
    let mut filter: Vec<(&str, Vec<&str>)> = Vec::new();
    for o in &only {
        let Some((k, v)) = o.split_once('=') else {
            eprintln!(
                "error: `--only {o}` is not `KEY=VALUE`\n   = hint: e.g. `--only backend=nebula`"
            );
            return Ok(ExitCode::from(EXIT_INVALID));
        };
        let Some((_, values)) = m.axes.dims.iter().find(|(d, _)| d == k) else {
            let keys: Vec<&str> = m.axes.dims.iter().map(|(d, _)| d.as_str()).collect();
            eprintln!(
                "error: `--only {o}`: `{name}` does not vary `{k}`\n   = hint: it varies {}",
                keys.iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            return Ok(ExitCode::from(EXIT_INVALID));
        };
        if !values.iter().any(|x| x == v) {
            let hint =
                e3::diag::did_you_mean(v, values.iter().map(String::as_str)).unwrap_or_else(|| {
                    format!(
                        "its values: {}",
                        values
                            .iter()
                            .map(|x| format!("`{x}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                });
            eprintln!("error: `--only {o}`: `{v}` is not a value of `{k}`\n   = hint: {hint}");
            return Ok(ExitCode::from(EXIT_INVALID));
        }
        match filter.iter_mut().find(|(fk, _)| *fk == k) {
            Some((_, vs)) => vs.push(v),
            None => filter.push((k, vec![v])),
        }
    }
    let variants: Vec<e3::grid::GridVariant> = m
        .variants
        .iter()
        .filter(|v| {
            filter.iter().all(|(k, vs)| {
                v.settings
                    .iter()
                    .any(|(sk, sv)| sk == k && vs.contains(&sv.as_str()))
            })
        })
        .map(|v| e3::grid::GridVariant {
            label: v.label.clone(),
            settings: v.settings.clone(),
            plan: plan::plan(&v.scenario),
        })
        .collect();
    // Root and the common tools, before anything runs; a backend whose
    // daemons are missing gives `error` cells that say so.
    e3::sim::preflight(e3::catalogue::Backend::Direct)?;
    let dir = output.unwrap_or_else(|| Path::new("results").join(&m.base));
    let opts = e3::grid::Options {
        timeout: std::time::Duration::from_secs(timeout.max(1)),
        fresh,
        dir: dir.clone(),
        python: None,
        latency,
        runs,
    };
    let description = m.variants[0].scenario.description.clone();
    let grid = match e3::grid::run(&m.base, &description, &m.axes, &variants, &opts) {
        Err(_) if e3::sim::netns::interrupted() => {
            eprintln!("interrupted: finished cells are kept in {}", dir.display());
            return Ok(ExitCode::from(EXIT_INTERRUPTED));
        }
        r => r?,
    };
    if json {
        print!(
            "{}",
            std::fs::read_to_string(dir.join("grid.json")).map_err(|e| e.to_string())?
        );
    }
    eprintln!("{}: {}", m.base, e3::grid::summary(&grid));
    eprintln!(
        "wrote {0}/grid.json, {0}/grid.svg and {0}/grid.html",
        dir.display()
    );
    if e3::grid::plot::x_axis(&grid).is_some() {
        eprintln!("wrote {0}/plot.svg and {0}/plot.html", dir.display());
    }
    let errors = grid
        .cells
        .iter()
        .filter(|c| c.outcome == e3::grid::Outcome::Error)
        .count();
    Ok(if errors > 0 {
        eprintln!(
            "error: the lab could not run {errors} cell{}; see `reason` in grid.json",
            if errors == 1 { "" } else { "s" }
        );
        ExitCode::from(EXIT_FAILURE)
    } else {
        ExitCode::SUCCESS
    })
}

fn sim(
    name: Option<String>,
    json: bool,
    expect_failure: bool,
    timeout: u64,
    cleanup: bool,
    latency: Option<e3::sim::latency::Method>,
    test_fault: Option<String>,
) -> Result<ExitCode, e3::error::Error> {
    if cleanup {
        if !e3::sim::is_root() {
            return Err("`e3 sim --cleanup` needs root: the labs' namespaces, processes and state files (`/run/e3`) belong to root\n   = hint: run it with `sudo`".into());
        }
        for line in e3::sim::netns::cleanup_leftovers() {
            println!("{line}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let name = name.unwrap_or_default();
    let plan = match load_plan(&name) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let opts = e3::sim::Options {
        timeout: std::time::Duration::from_secs(timeout.max(1)),
        latency,
        test_fault,
        ..Default::default()
    };
    let report = match e3::sim::run_lab(&plan, &opts) {
        Err(_) if e3::sim::netns::interrupted() => {
            eprintln!("interrupted: the lab is torn down");
            return Ok(ExitCode::from(EXIT_INTERRUPTED));
        }
        r => r?,
    };
    if json {
        print!("{}", report.to_json());
    } else {
        print!("{}", report.to_table());
    }
    Ok(if report.ok != expect_failure {
        ExitCode::SUCCESS
    } else {
        if expect_failure {
            eprintln!("error: the run succeeded, but `--expect-failure` was given");
        }
        ExitCode::from(EXIT_FAILURE)
    })
}

/// The scenario argument as a later `e3 lab` command loads it from any
/// directory: a path made absolute (its `@…` variant kept).
fn absolute_scenario(arg: &str) -> String {
    let (base, variant) = e3::matrix::split_arg(arg);
    let p = Path::new(base);
    let base = if p.is_file() {
        std::fs::canonicalize(p)
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| base.to_string())
    } else {
        base.to_string()
    };
    match variant {
        Some(v) => format!("{base}@{v}"),
        None => base,
    }
}

/// The record of a running lab and its plan, planned again.
fn lab_plan(
    name: &str,
) -> Result<Result<(e3::sim::live::Record, Plan), ExitCode>, e3::error::Error> {
    let record = e3::sim::live::find(name)?;
    Ok(match load_plan(&record.scenario) {
        Ok(plan) => {
            e3::sim::live::check_plan(&record, &plan)?;
            Ok((record, plan))
        }
        Err(code) => Err(code),
    })
}

/// `e3 lab …`.
fn lab(command: LabCommand) -> Result<ExitCode, e3::error::Error> {
    use e3::sim::live;
    if !e3::sim::is_root() {
        return Err("`e3 lab` needs root (network namespaces, nftables, `/run/e3`)\n   = hint: run it with `sudo`".into());
    }
    macro_rules! planned {
        ($name:expr) => {
            match lab_plan($name)? {
                Ok(x) => x,
                Err(code) => return Ok(code),
            }
        };
    }
    match command {
        LabCommand::Up {
            scenario,
            name,
            json,
            timeout,
            latency,
        } => {
            let plan = match load_plan(&scenario) {
                Ok(p) => p,
                Err(code) => return Ok(code),
            };
            let name = name.unwrap_or_else(|| plan.name.clone());
            let opts = e3::sim::Options {
                timeout: std::time::Duration::from_secs(timeout),
                latency: latency_method(latency)?,
                ..Default::default()
            };
            let (record, missing) =
                match live::up(&plan, &absolute_scenario(&scenario), &name, &opts) {
                    Err(_) if e3::sim::netns::interrupted() => {
                        eprintln!("interrupted: the lab is torn down");
                        return Ok(ExitCode::from(EXIT_INTERRUPTED));
                    }
                    r => r?,
                };
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&record.summary_json()).unwrap_or_default()
                );
            } else {
                print!("{}", record.table());
            }
            if missing.is_empty() {
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!(
                    "error: the overlay did not come up between {} within {timeout} s; the lab stays up to be looked into (`e3 lab down {}` removes it)",
                    missing.join(", "),
                    record.lab
                );
                Ok(ExitCode::from(EXIT_FAILURE))
            }
        }
        LabCommand::Exec {
            name,
            host,
            command,
        } => {
            let record = live::find(&name)?;
            let code = live::exec(&record, &host, &command, &[])?;
            Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
        }
        LabCommand::Shell { name, host } => {
            let record = live::find(&name)?;
            let shell = std::env::var("SHELL")
                .ok()
                .filter(|s| Path::new(s).is_absolute())
                .unwrap_or_else(|| "/bin/sh".into());
            let prompt = format!("[e3 lab {name}: {host}] \\w# ");
            let mut cmd = vec![shell.clone()];
            if shell.ends_with("/bash") {
                cmd.push("--norc".into());
            }
            cmd.push("-i".into());
            eprintln!("shell in `{host}` of lab {name} (exit or Ctrl-D leaves it)");
            let code = live::exec(&record, &host, &cmd, &[("PS1", &prompt), ("E3_LAB", &name)])?;
            Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
        }
        LabCommand::Run {
            name,
            json,
            timeout,
        } => {
            let (record, plan) = planned!(&name);
            let opts = e3::sim::Options {
                timeout: std::time::Duration::from_secs(timeout),
                ..Default::default()
            };
            let session = live::session(&plan, &record, &opts)?;
            let report = match e3::sim::run_session(session, &opts) {
                Err(_) if e3::sim::netns::interrupted() => {
                    eprintln!("interrupted: the program was stopped; the lab stays up");
                    return Ok(ExitCode::from(EXIT_INTERRUPTED));
                }
                r => r?,
            };
            if json {
                print!("{}", report.to_json());
            } else {
                print!("{}", report.to_table());
            }
            Ok(if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(EXIT_FAILURE)
            })
        }
        LabCommand::Capture {
            name,
            place,
            write,
            duration,
            filter,
        } => {
            let (record, plan) = planned!(&name);
            let duration = match duration {
                Some(d) if !(d > 0.0 && d <= 86400.0) => {
                    eprintln!("error: `--duration {d}`: give seconds between 0 and 86400");
                    return Ok(ExitCode::from(EXIT_INVALID));
                }
                d => d.map(std::time::Duration::from_secs_f64),
            };
            let path = write.unwrap_or_else(|| PathBuf::from(format!("{place}.pcap")));
            let stats = live::capture(&plan, &record, &place, &path, duration, filter.as_deref())?;
            eprintln!(
                "{} packets captured into {} ({} received by the filter, {} dropped by the kernel)",
                stats.captured,
                path.display(),
                stats.received,
                stats.dropped
            );
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Fault {
            name,
            action,
            target,
        } => {
            let action: e3::sim::fault::Action = match action.parse() {
                Ok(a) => a,
                Err(e) => {
                    eprint!("{}", e3::error::render(&e));
                    return Ok(ExitCode::from(EXIT_INVALID));
                }
            };
            let (mut record, plan) = planned!(&name);
            let done = live::fault(&plan, &mut record, action, &target)?;
            println!("{action} {target}: {done}");
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Status { json } => {
            let (labs, warnings) = live::status();
            for w in warnings {
                eprintln!("warning: {w}");
            }
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&labs).unwrap_or_default()
                );
            } else if labs.is_empty() {
                println!("no lab is up");
            } else {
                println!(
                    "{:<28} {:<8} {:<9} {:>5} {:>8} {:>7}  SCENARIO",
                    "LAB", "PREFIX", "BACKEND", "HOSTS", "DAEMONS", "AGE"
                );
                for l in labs {
                    println!(
                        "{:<28} {:<8} {:<9} {:>5} {:>8} {:>6}s  {}",
                        l.lab,
                        l.prefix,
                        l.backend,
                        l.hosts,
                        format!("{}/{}", l.running, l.daemons),
                        l.age_s,
                        l.scenario
                    );
                    for f in &l.faults {
                        println!("    fault: {f}");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        LabCommand::Down { name, all } => {
            let targets: Vec<live::Record> = if all {
                live::records().into_iter().flatten().collect()
            } else {
                vec![live::find(name.as_deref().unwrap_or_default())?]
            };
            let mut bad = false;
            for r in targets {
                let problems = live::down(&r);
                for p in &problems {
                    eprintln!("warning: {p}");
                }
                bad |= !problems.is_empty();
                println!("lab {} ({}) is down", r.lab, r.prefix);
            }
            Ok(if bad {
                ExitCode::from(EXIT_FAILURE)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

fn show(plan: &Plan) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "{}: {}", plan.name, plan.description);
    let c = &plan.connectivity;
    let _ = writeln!(
        s,
        "backend {} (relay {}, {}), program {} on port {}",
        c.backend,
        c.relay,
        match c.topology {
            plan::Topology::Hub => "hub",
            plan::Topology::Mesh => "mesh",
        },
        plan.program.name,
        plan.program.port
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:<20} {:<10} {:<13} {:<7} {:<9} {:<26} {:<15}",
        "HOST", "ROLE", "PLATFORM", "REGION", "NAT", "UNDERLAY", "OVERLAY"
    );
    for h in &plan.hosts {
        let underlay = h
            .interfaces
            .iter()
            .map(|i| i.address.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let role = match (h.role, h.index) {
            (Role::Party, Some(i)) => format!("party #{i}"),
            (r, _) => r.as_str().to_string(),
        };
        let _ = writeln!(
            s,
            "{:<20} {:<10} {:<13} {:<7} {:<9} {:<26} {:<15}",
            h.name,
            role,
            h.platform.map(|p| p.as_str()).unwrap_or("(sim)"),
            h.region.as_deref().unwrap_or("-"),
            h.nat.as_str(),
            underlay,
            h.overlay_address
                .map(|a| a.to_string())
                .unwrap_or_else(|| "-".into()),
        );
    }
    // Padding of the last column leaves trailing spaces: trim each line.
    let mut s: String = s.lines().map(|l| format!("{}\n", l.trim_end())).collect();
    if !plan.latency.pairs.is_empty() {
        let _ = writeln!(s, "\none-way delay ({}):", plan.latency.model);
        for p in &plan.latency.pairs {
            let _ = writeln!(s, "  {} <-> {}: {} ms", p.a, p.b, p.one_way_ms);
        }
    }
    s
}

fn keys(name: &str, rotate: bool, secrets: Option<PathBuf>) -> Result<ExitCode, e3::error::Error> {
    let plan = match load_plan(name) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let dir = secrets.unwrap_or_else(|| Path::new("secrets").join(&plan.name));
    let report = e3::keys::keys(&plan, &dir, rotate)?;
    for n in &report.notes {
        println!("note: {n}");
    }
    if report.up_to_date() {
        println!(
            "{}: key material up to date ({} files)",
            dir.display(),
            report.kept.len()
        );
    } else {
        for f in &report.generated {
            println!("wrote {}", dir.join(f).display());
        }
        println!("next: `e3 render {name}` copies the public keys into the rendered directory");
    }
    Ok(ExitCode::SUCCESS)
}

fn new(
    name: &str,
    from: &str,
    copy: bool,
    output: Option<PathBuf>,
    force: bool,
) -> Result<ExitCode, e3::error::Error> {
    if !e3::scenario::valid_name(name) {
        eprintln!("error: invalid scenario name `{name}`\n   = hint: use lower-case letters, digits and `-`, starting with a letter");
        return Ok(ExitCode::from(EXIT_INVALID));
    }
    let base = ScenarioRef::from_arg(from);
    let checked = e3::check(&base);
    if !checked.is_valid() {
        print_diagnostics(&checked.diagnostics, &checked.sources);
        eprintln!("error: cannot start from `{from}`: it is not a valid scenario");
        return Ok(ExitCode::from(EXIT_INVALID));
    }
    let path = output.unwrap_or_else(|| PathBuf::from(format!("{name}.yaml")));
    if path.exists() && !force {
        eprintln!("error: `{}` already exists\n   = hint: pass `--force` to overwrite it, or `-o` to write elsewhere", path.display());
        return Ok(ExitCode::from(EXIT_INVALID));
    }
    let text = if copy {
        let original = checked.sources.file(0).text.clone();
        let mut lines: Vec<String> = original
            .lines()
            .filter(|l| !l.starts_with("name:"))
            .map(str::to_string)
            .collect();
        lines.insert(0, format!("name: {name}"));
        lines.join("\n") + "\n"
    } else {
        let extends = match &base {
            ScenarioRef::Bundled(n) => n.clone(),
            ScenarioRef::File(p) => relative_to(p, path.parent().unwrap_or(Path::new("."))),
        };
        format!(
            "# A fork of `{from}`: every key not set here is inherited from it.\n\
             # `e3 show {from}` shows what it sets; override any key below\n\
             # (mappings merge key by key, lists such as `parties` replace).\n\
             name: {name}\n\
             extends: {extends}\n\
             description: Fork of {from}.\n"
        )
    };
    std::fs::write(&path, text).map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    // The new file must itself be valid.
    let again = e3::check(&ScenarioRef::File(path.clone()));
    print_diagnostics(&again.diagnostics, &again.sources);
    if !again.is_valid() {
        let _ = std::fs::remove_file(&path);
        return Err(
            "the new scenario did not validate; nothing was written (please report this)".into(),
        );
    }
    println!("wrote {} (from {from})", path.display());
    Ok(ExitCode::SUCCESS)
}

/// `p` relative to `dir` when both are relative and simple, else absolute.
fn relative_to(p: &Path, dir: &Path) -> String {
    let abs = |x: &Path| std::fs::canonicalize(x).unwrap_or_else(|_| x.to_path_buf());
    let (p, dir) = (abs(p), abs(dir));
    match p.strip_prefix(&dir) {
        Ok(rel) => rel.display().to_string(),
        Err(_) => p.display().to_string(),
    }
}

/// `e3 deploy` / `e3 destroy`.
fn deploy(
    name: &str,
    dry_run: bool,
    destroy: bool,
    yes: bool,
    ssh_key: Option<PathBuf>,
) -> Result<ExitCode, e3::error::Error> {
    use e3::deploy::{self, Layout};
    use std::io::IsTerminal as _;
    let plan = match load_plan(name) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let e3_bin = if dry_run {
        "e3".to_string()
    } else {
        std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "e3".into())
    };
    let terraform = if dry_run {
        "terraform"
    } else {
        deploy::terraform_program()
    };
    let timestamp = if dry_run {
        "<timestamp>".to_string()
    } else {
        utc_timestamp()
    };
    let layout = Layout::new(&plan, None, &timestamp);
    let steps = if destroy {
        deploy::destroy_steps(&plan, &layout, terraform)
    } else {
        deploy::deploy_steps(&plan, &layout, &e3_bin, terraform)
    };
    if steps.is_empty() {
        println!("`{}` provisions no machines: nothing to destroy", plan.name);
        return Ok(ExitCode::SUCCESS);
    }
    let cost = deploy::cost_summary(&plan);
    if dry_run {
        let mut phase = None;
        for (i, s) in steps.iter().enumerate() {
            if phase != Some(s.phase) {
                println!("## {}", s.phase.title());
                phase = Some(s.phase);
            }
            println!("# {}. {}", i + 1, s.title);
            println!("{}", s.display());
        }
        if let (Some(cost), false) = (&cost, destroy) {
            println!("# {cost}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let state = layout.rendered.join("terraform/terraform.tfstate");
    if destroy && !state.is_file() {
        println!(
            "`{}` has no Terraform state (`{}`): nothing was provisioned, nothing to destroy",
            plan.name,
            state.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut missing: Vec<String> = deploy::missing_programs(&steps, &e3_bin)
        .into_iter()
        .chain(
            deploy::extra_programs(&plan)
                .into_iter()
                .filter(|p| !e3::tools::on_path(p))
                .map(str::to_string),
        )
        .map(|m| format!("`{m}`"))
        .collect();
    missing.dedup();
    if !missing.is_empty() {
        return Err(format!("{} not found on PATH\n  = hint: `nix develop` in the e3 repository provides them (terraform via `nix develop .#terraform`; `tofu` works too); ssh comes with OpenSSH", missing.join(", ")).into());
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let ssh_key = ssh_key.unwrap_or_else(|| home.join(".ssh/id_ed25519.pub"));
    let inputs = deploy::missing_inputs(
        &plan,
        |v| std::env::var_os(v).is_some_and(|x| !x.is_empty()),
        &ssh_key,
    );
    if !inputs.is_empty() {
        return Err(format!(
            "missing before anything is created: {}\n  = hint: credentials come from the environment only (see `e3 deploy --help`)",
            inputs.join(", ")
        )
        .into());
    }
    if !destroy {
        if let Some(cost) = &cost {
            eprintln!("{}: {cost}", plan.name);
            if !yes {
                if !std::io::stdin().is_terminal() {
                    return Err("refusing to create machines without confirmation: stdin is not a terminal\n  = hint: pass `--yes` to create them without asking".into());
                }
                eprint!("Create these machines? [y/N] ");
                let mut answer = String::new();
                let _ = std::io::stdin().read_line(&mut answer);
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    eprintln!("nothing created");
                    return Ok(ExitCode::from(1));
                }
            }
        }
    }
    if !destroy && deploy::ensure_authorized_keys(&layout, &ssh_key)? {
        eprintln!(
            "root's SSH key on the hosts: `{}` copied to `{}`",
            ssh_key.display(),
            layout.secrets.join("public/authorized_keys").display()
        );
    }
    let context = deploy::Context {
        hosts_json: layout.rendered.join("hosts.json"),
        image_link: layout.rendered.join("result-image"),
        ssh_key,
        destroying: destroy,
    };
    match deploy::run(&steps, &context) {
        Ok(()) => {
            if !destroy {
                println!("results in {}", layout.results.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err((i, message)) => {
            let hint = if destroy {
                format!("\n  = hint: fix the cause and run `e3 destroy {}` again; `terraform -chdir={} state list` shows what still exists", plan.name, layout.rendered.join("terraform").display())
            } else if steps[i].phase >= deploy::Phase::Terraform {
                format!("\n  = hint: machines may exist and cost money until destroyed: `e3 destroy {}` removes whatever was created (it works on a partial deployment)", plan.name)
            } else {
                "\n  = hint: nothing was created in the cloud yet".to_string()
            };
            Err(format!(
                "step {} of {} failed: {}\n{message}{hint}",
                i + 1,
                steps.len(),
                steps[i].title
            )
            .into())
        }
    }
}

/// `YYYYMMDDTHHMMSSZ` from the system clock (for results directories only;
/// nothing rendered depends on the clock).
fn utc_timestamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
