//! `e3-bench`: what e3 costs, how it scales, and how it compares with a peer.
//! See README "Benchmarks" for the figures and how to read them.
//!
//!     cargo run --release -p e3-bench -- [--runs N] [--json FILE] [--only render,lab,overlay,mininet]
//!
//! Every figure is the median of `--runs` runs (default 5) with min and max;
//! a table goes to stdout, the full results (every sample) to the JSON file.

mod error;
mod grid;
mod lab;
mod latency;
mod mininet;
mod render;
mod stats;
mod table;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use serde::Serialize;

use error::Error;
use stats::Stat;
use table::{left, right, section, Row};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Debug)]
enum Section {
    /// load + validate + plan + render at several sizes (no root needed)
    Render,
    /// lab bring-up and teardown, Nebula behind easy NAT (root)
    Lab,
    /// `rounds` and iperf3 over the underlay, Nebula, WireGuard, tinc (root)
    Overlay,
    /// the same NAT topology with e3's lab and with Mininet (root)
    Mininet,
    /// region latency measured against the model: underlay and overlays, netem and/or e3's delay line (root)
    Latency,
    /// whole `e3 sim` runs, Nebula behind easy NAT: each phase and the report phase's share (root)
    Run,
    /// `e3 grid` on parts of the bundled grids: a lab per run against shared labs and --jobs (root)
    Grid,
}

/// Benchmarks of e3: rendering cost, lab bring-up, overlay overhead, and
/// e3's lab beside Mininet. Prints a table, writes every sample as JSON.
#[derive(Parser, Debug)]
#[command(name = "e3-bench", version)]
struct Cli {
    /// Runs per figure (medians, minima and maxima are over these)
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Where to write the results
    #[arg(long, default_value = "results/bench.json")]
    json: PathBuf,
    /// Sections to run [default: all]
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Section>,
    /// Party counts of the rendering figure
    #[arg(long, value_delimiter = ',', default_values_t = [3usize, 100, 1000])]
    render_sizes: Vec<usize>,
    /// Party counts of the lab bring-up figure
    #[arg(long, value_delimiter = ',', default_values_t = [3usize, 8, 16])]
    lab_sizes: Vec<usize>,
    /// Party counts of the full-run figure (40 works; it takes minutes here)
    #[arg(long, value_delimiter = ',', default_values_t = [16usize])]
    run_sizes: Vec<usize>,
    /// Overlays of the overhead figure (the `direct` underlay baseline always runs)
    #[arg(long, value_delimiter = ',', default_values_t = ["nebula".to_string(), "wireguard".to_string(), "tinc".to_string()])]
    overlays: Vec<String>,
    /// Sequential secure multiplications per `rounds` run
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// Seconds per iperf3 run
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    iperf_seconds: u32,
    /// Region pairs of the latency figure
    #[arg(long, value_delimiter = ',', default_values_t = ["ams3-fra1".to_string(), "ams3-nyc3".to_string(), "ams3-sgp1".to_string(), "sgp1-sfo3".to_string()])]
    latency_pairs: Vec<String>,
    /// Overlays of the latency figure (beside the underlay); `tailscale` only where its daemons are on PATH
    #[arg(long, value_delimiter = ',', default_values_t = ["nebula".to_string(), "wireguard".to_string(), "tailscale".to_string()])]
    latency_overlays: Vec<String>,
    /// Sequential secure multiplications per `rounds` run of the latency figure
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    latency_rounds: u32,
    /// Private hosts of the Mininet figure (each behind its own NAT router)
    #[arg(long, value_delimiter = ',', default_values_t = [4usize, 16])]
    mininet_hosts: Vec<usize>,
    /// A grid of the grid figure (repeat): SCENARIO[:KEY=VALUE,KEY=VALUE…][/RUNS PER CELL], the settings as `e3 grid --only` takes them
    #[arg(long = "grid", value_name = "SPEC", default_values_t = ["mpc-sweep:count=3,placement=same,placement=far/3".to_string(), "connectivity-grid:nat=easy+easy,nat=easyaf+hard,nat=hard+hard".to_string()])]
    grids: Vec<String>,
    /// Ways of the grid figure: baseline (another e3, --grid-baseline), fresh (a lab per run), shared, jobs (shared, --grid-jobs labs at a time)
    #[arg(long, value_delimiter = ',', default_values_t = ["fresh".to_string(), "shared".to_string(), "jobs".to_string()])]
    grid_ways: Vec<String>,
    /// Labs at a time of the grid figure's `jobs` way
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(2..=8))]
    grid_jobs: u8,
    /// The `e3` binary of the `baseline` way (an earlier build, run as `e3 grid … --fresh`)
    #[arg(long, value_name = "E3")]
    grid_baseline: Option<PathBuf>,
    /// Seconds to wait for an overlay, and again for a program run
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// Print a line per run on stderr
    #[arg(short, long)]
    verbose: bool,
}

#[derive(Serialize)]
struct Machine {
    cpu: String,
    cpus: usize,
    kernel: String,
    /// /proc/loadavg when the benchmark started and ended: other work on
    /// the machine shows up here.
    loadavg_start: String,
    loadavg_end: String,
    tools: Vec<(String, String)>,
}

#[derive(Serialize)]
struct Results {
    e3_bench: u32,
    e3_version: &'static str,
    git_commit: Option<String>,
    profile: &'static str,
    unix_time: u64,
    runs: u32,
    machine: Machine,
    render: Option<render::Figure>,
    lab: Option<lab::BringUpFigure>,
    overlay: Option<lab::OverlayFigure>,
    mininet: Option<mininet::Figure>,
    latency: Option<latency::Figure>,
    run: Option<lab::RunFigure>,
    grid: Option<grid::Figure>,
    /// Lab prefixes (`e3-XXXX`) this run used, for checking that none is left.
    labs: Vec<String>,
    total_s: f64,
}

/// The first (or last) line a command prints: stdout, or stderr when stdout is empty.
fn output_line(program: &str, args: &[&str], last: bool) -> String {
    let out = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output();
    match out {
        Ok(o) => {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            let text = String::from_utf8_lossy(&text);
            let line = if last {
                text.lines().last()
            } else {
                text.lines().next()
            };
            line.unwrap_or("").trim().to_string()
        }
        Err(_) => "not found".into(),
    }
}

fn first_line(program: &str, args: &[&str]) -> String {
    output_line(program, args, false)
}

fn machine(sections: &[Section]) -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_default();
    let mut tools = Vec::new();
    if sections.iter().any(|s| *s != Section::Render) {
        tools.push(("nebula".into(), first_line("nebula", &["-version"])));
        tools.push((
            "wireguard-go".into(),
            first_line("wireguard-go", &["--version"]),
        ));
        tools.push(("tincd".into(), first_line("tincd", &["--version"])));
        tools.push(("iperf3".into(), first_line("iperf3", &["--version"])));
        if let Ok(p) = e3::sim::find_python() {
            // last line: importing MPyC may log a hint first
            tools.push((
                "python".into(),
                output_line(
                    &p.display().to_string(),
                    &[
                        "-c",
                        "import sys, mpyc; print(sys.version.split()[0], 'mpyc', mpyc.__version__)",
                    ],
                    true,
                ),
            ));
        }
    }
    Machine {
        cpu,
        cpus: std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string(),
        loadavg_start: loadavg(),
        loadavg_end: String::new(),
        tools,
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The latency figure's overlays: `tailscale` only where its daemons are.
fn latency_overlays(cli: &Cli) -> Vec<&str> {
    cli.latency_overlays
        .iter()
        .map(String::as_str)
        .filter(|o| *o != "direct")
        .filter(|o| {
            *o != "tailscale"
                || (e3::tools::on_path("tailscaled") && e3::tools::on_path("headscale"))
        })
        .collect()
}

/// Everything that would make a section fail, checked before any runs.
fn preflight(cli: &Cli, sections: &[Section]) -> Result<(), Error> {
    let labs = sections.iter().any(|s| *s != Section::Render);
    if labs && !is_root() {
        return Err(Error::NeedsRoot);
    }
    let mut backends = Vec::new();
    if sections.contains(&Section::Lab) || sections.contains(&Section::Run) {
        backends.push(e3::catalogue::Backend::Nebula);
    }
    if sections.contains(&Section::Overlay) {
        for o in &cli.overlays {
            match o.as_str() {
                "nebula" => backends.push(e3::catalogue::Backend::Nebula),
                "wireguard" => backends.push(e3::catalogue::Backend::Wireguard),
                "tinc" => backends.push(e3::catalogue::Backend::Tinc),
                other => {
                    return Err(Error::NotAnOverlay {
                        option: "--overlays",
                        value: other.into(),
                        choices: "`nebula`, `wireguard`, `tinc`",
                    })
                }
            }
        }
        if !e3::tools::on_path("iperf3") {
            return Err(Error::SectionNeeds {
                section: "overlay",
                tool: "iperf3",
            });
        }
    }
    if sections.contains(&Section::Mininet) {
        backends.push(e3::catalogue::Backend::Direct);
        mininet::preflight()?;
    }
    if sections.contains(&Section::Latency) {
        for p in &cli.latency_pairs {
            latency::parse_pair(p).map_err(|e| Error::Option {
                option: "--latency-pairs",
                source: Box::new(e),
            })?;
        }
        for o in latency_overlays(cli) {
            match o {
                "nebula" => backends.push(e3::catalogue::Backend::Nebula),
                "wireguard" => backends.push(e3::catalogue::Backend::Wireguard),
                "tinc" => backends.push(e3::catalogue::Backend::Tinc),
                "tailscale" => backends.push(e3::catalogue::Backend::Tailscale),
                other => {
                    return Err(Error::NotAnOverlay {
                        option: "--latency-overlays",
                        value: other.into(),
                        choices: "`nebula`, `wireguard`, `tinc`, `tailscale`",
                    })
                }
            }
        }
        for tool in ["iperf3", "iptables"] {
            if !e3::tools::on_path(tool) {
                return Err(Error::SectionNeeds {
                    section: "latency",
                    tool,
                });
            }
        }
    }
    for b in backends {
        e3::sim::preflight(b).map_err(Error::Lab)?;
    }
    if labs {
        e3::sim::find_python().map_err(Error::Lab)?;
    }
    for (what, sizes, min) in [
        ("--render-sizes", &cli.render_sizes, 2),
        ("--lab-sizes", &cli.lab_sizes, 2),
        ("--mininet-hosts", &cli.mininet_hosts, 1),
        ("--run-sizes", &cli.run_sizes, 2),
    ] {
        if let Some(n) = sizes.iter().find(|n| **n < min) {
            return Err(Error::TooSmall {
                option: what,
                value: *n,
                min,
            });
        }
    }
    if cli.mininet_hosts.iter().any(|n| *n > 254) {
        return Err(Error::TooManyMininetHosts);
    }
    Ok(())
}

/// A working directory under the system temp dir (`e3-bench-PID`), removed
/// when dropped. One left by a killed run is removed by the next run.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> Result<WorkDir, Error> {
        if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let pid = name
                    .strip_prefix("e3-bench-")
                    .and_then(|p| p.parse::<u32>().ok());
                if pid.is_some_and(|p| !Path::new(&format!("/proc/{p}")).exists()) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let p = std::env::temp_dir().join(format!("e3-bench-{}", std::process::id()));
        std::fs::create_dir_all(&p).map_err(|source| Error::Create {
            path: p.clone(),
            source,
        })?;
        Ok(WorkDir(p))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn fmt_stat(s: &Option<Stat>, unit: &str, scale: f64, decimals: usize) -> String {
    match s {
        Some(s) => format!(
            "{:.d$} {unit} ({:.d$}–{:.d$})",
            s.median * scale,
            s.min * scale,
            s.max * scale,
            d = decimals
        ),
        None => "failed".into(),
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map(|r| format!("{r}×")).unwrap_or_else(|| "-".into())
}

fn table(r: &Results) -> String {
    let mut t = String::new();
    let m = &r.machine;
    let _ = writeln!(
        t,
        "e3-bench: {} runs per figure, median (min–max); {} build",
        r.runs, r.profile
    );
    let _ = writeln!(
        t,
        "machine: {} ({} CPUs), Linux {}, load {} → {}",
        m.cpu, m.cpus, m.kernel, m.loadavg_start, m.loadavg_end
    );
    let failed = |f: &Vec<String>| f.len();
    let or_dash = |x: Option<f64>| x.map_or("-".to_string(), |x| x.to_string());
    if let Some(f) = &r.render {
        let rows: Vec<Row> = f
            .sizes
            .iter()
            .map(|s| {
                let values = vec![
                    s.parties.to_string(),
                    s.hosts.to_string(),
                    s.files.to_string(),
                    s.bytes.to_string(),
                    fmt_stat(&Some(s.pipeline_s.clone()), "ms", 1e3, 1),
                    fmt_stat(&Some(s.peak_rss_kib.clone()), "MiB", 1.0 / 1024.0, 1),
                    fmt_stat(&Some(s.write_s.clone()), "ms", 1e3, 1),
                    s.per_party_us.to_string(),
                ];
                (values, 0)
            })
            .collect();
        let notes: Vec<String> = f
            .growth
            .iter()
            .map(|g| {
                format!(
                    "  {} → {} parties (×{}): time ×{}, peak memory ×{}; each added party +{} µs, +{} KiB",
                    g.from,
                    g.to,
                    g.parties_ratio,
                    or_dash(g.time_ratio),
                    or_dash(g.memory_ratio),
                    g.time_us_per_added_party,
                    g.memory_kib_per_added_party
                )
            })
            .collect();
        section(
            &mut t,
            "1. Render: load + validate + plan + render (in memory), fresh process per run",
            &[
                right("PARTIES", 7),
                right("HOSTS", 6),
                right("FILES", 6),
                right("BYTES", 10),
                left("PIPELINE", 28).gap(2),
                left("PEAK RSS", 26),
                left("WRITE", 24),
                right("PER PARTY", 7).unit(" µs"),
            ],
            &rows,
            &notes,
        );
    }
    if let Some(f) = &r.lab {
        let rows: Vec<Row> = f
            .sizes
            .iter()
            .map(|s| {
                let values = vec![
                    s.parties.to_string(),
                    s.namespaces.to_string(),
                    fmt_stat(&s.topology_s, "s", 1.0, 2),
                    fmt_stat(&s.daemons_s, "s", 1.0, 2),
                    fmt_stat(&s.bringup_s, "s", 1.0, 2),
                    fmt_stat(&s.teardown_s, "s", 1.0, 2),
                    s.bringup_per_party_s
                        .map_or("-".to_string(), |x| format!("{x:.3}")),
                ];
                (values, failed(&s.failures))
            })
            .collect();
        section(
            &mut t,
            "2. Lab bring-up: Nebula, every party behind its own easy NAT, until every pair answers over the overlay",
            &[
                right("PARTIES", 7),
                right("NS", 4),
                left("TOPOLOGY", 24).gap(2),
                left("DAEMONS STARTED", 24),
                left("ALL PAIRS UP", 24),
                left("TEARDOWN", 24),
                right("UP/PARTY", 9).unit(" s"),
            ],
            &rows,
            &[format!(
                "  each added party: bring-up +{} s, teardown +{} s",
                or_dash(f.bringup_s_per_added_party),
                or_dash(f.teardown_s_per_added_party)
            )],
        );
    }
    if let Some(f) = &r.overlay {
        let rows: Vec<Row> = f
            .backends
            .iter()
            .map(|b| {
                let values = vec![
                    b.backend.clone(),
                    fmt_stat(&b.per_round_ms, "ms", 1.0, 3),
                    fmt_stat(&b.throughput_mbps, "Mbit/s", 1.0, 0),
                    fmt_stat(&b.wire_ratio, "×", 1.0, 2),
                    fmt_ratio(b.round_time_ratio),
                    fmt_ratio(b.throughput_ratio),
                    fmt_ratio(b.wire_ratio_vs_direct),
                ];
                (values, failed(&b.failures))
            })
            .collect();
        section(
            &mut t,
            &format!("3. Overlay overhead: two public parties; `rounds` ({} rounds) and iperf3 ({} s, one TCP stream)", f.rounds, f.iperf_seconds),
            &[
                left("BACKEND", 10),
                left("PER ROUND", 30),
                left("THROUGHPUT", 30),
                left("WIRE/PAYLOAD", 22),
                right("ROUND ×", 11),
                right("THRUPUT ×", 11),
                right("WIRE ×", 9),
            ],
            &rows,
            &["  ratios are to the underlay (`direct`): round time × > 1 is slower, throughput × < 1 is less, wire × > 1 is more bytes on the internet segment per byte of `rounds`' payload".into()],
        );
    }
    if let Some(f) = &r.mininet {
        let rows: Vec<Row> = f
            .sizes
            .iter()
            .map(|s| {
                let values = vec![
                    s.hosts.to_string(),
                    fmt_stat(&s.e3.bringup_s, "s", 1.0, 2),
                    fmt_stat(&s.mininet.bringup_s, "s", 1.0, 2),
                    fmt_stat(&s.e3.teardown_s, "s", 1.0, 2),
                    fmt_stat(&s.mininet.teardown_s, "s", 1.0, 2),
                    fmt_ratio(s.bringup_ratio),
                    fmt_ratio(s.teardown_ratio),
                ];
                (values, failed(&s.failures))
            })
            .collect();
        section(
            &mut t,
            &format!(
                "4. Peer: N hosts behind NAT routers + one public host, e3's lab vs Mininet {}",
                f.mininet_version.as_deref().unwrap_or("?")
            ),
            &[
                right("HOSTS", 5),
                left("E3 UP", 24).gap(2),
                left("MININET UP", 24),
                left("E3 DOWN", 24),
                left("MININET DOWN", 24),
                right("UP ×", 9),
                right("DOWN ×", 9),
            ],
            &rows,
            &["  × = Mininet's median / e3's median (> 1: e3 is faster)".into()],
        );
    }
    if let Some(f) = &r.latency {
        latency::table(&mut t, f);
    }
    if let Some(f) = &r.run {
        let rows: Vec<Row> = f
            .sizes
            .iter()
            .map(|s| {
                let values = vec![
                    s.parties.to_string(),
                    fmt_stat(&s.total_s, "s", 1.0, 1),
                    fmt_stat(&s.setup_s, "s", 1.0, 2),
                    fmt_stat(&s.overlay_s, "s", 1.0, 2),
                    fmt_stat(&s.mpc_s, "s", 1.0, 2),
                    fmt_stat(&s.report_s, "s", 1.0, 2),
                    fmt_stat(&s.teardown_s, "s", 1.0, 2),
                    s.report_percent
                        .as_ref()
                        .map_or("-".to_string(), |p| format!("{:.1} %", p.median)),
                ];
                (values, failed(&s.failures))
            })
            .collect();
        section(
            &mut t,
            "6. Full run: `e3 sim`, Nebula, N parties behind easy NAT, by phase",
            &[
                right("PARTIES", 7),
                left("TOTAL", 20).gap(2),
                left("SETUP", 20),
                left("OVERLAY", 20),
                left("MPYC", 20),
                left("REPORT", 20),
                left("TEARDOWN", 20),
                right("REPORT %", 8),
            ],
            &rows,
            &["  REPORT: every pair's route (once per party, in parallel) and round trip; % of the whole run".into()],
        );
    }
    if let Some(f) = &r.grid {
        grid::table(&mut t, f);
    }
    let _ = writeln!(t, "\ntotal {:.0} s", r.total_s);
    t
}

/// Writes `text` to `path` atomically (temporary file, then rename).
fn write_atomic(path: &Path, text: &str) -> Result<(), Error> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| Error::Create {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|source| {
            let _ = std::fs::remove_file(&tmp);
            Error::Write {
                path: path.to_path_buf(),
                source,
            }
        })
}

/// Figures that could not be measured at all (every run failed).
fn unmeasured(r: &Results) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(f) = &r.lab {
        v.extend(
            f.sizes
                .iter()
                .filter(|s| s.bringup_s.is_none())
                .map(|s| format!("lab bring-up with {} parties", s.parties)),
        );
    }
    if let Some(f) = &r.overlay {
        v.extend(
            f.backends
                .iter()
                .filter(|b| b.per_round_ms.is_none())
                .map(|b| format!("overlay {}", b.backend)),
        );
    }
    if let Some(f) = &r.latency {
        v.extend(
            f.cells
                .iter()
                .filter(|c| c.rtt_ms.is_none())
                .map(|c| format!("latency {} {} {}", c.pair, c.backend, c.method)),
        );
    }
    if let Some(f) = &r.run {
        v.extend(
            f.sizes
                .iter()
                .filter(|s| s.total_s.is_none())
                .map(|s| format!("full run with {} parties", s.parties)),
        );
    }
    if let Some(f) = &r.mininet {
        v.extend(
            f.sizes
                .iter()
                .filter(|s| s.e3.bringup_s.is_none() || s.mininet.bringup_s.is_none())
                .map(|s| format!("peer with {} hosts", s.hosts)),
        );
    }
    v
}

fn run(cli: Cli) -> Result<ExitCode, Error> {
    let sections: Vec<Section> = if cli.only.is_empty() {
        vec![
            Section::Render,
            Section::Lab,
            Section::Overlay,
            Section::Mininet,
            Section::Latency,
            Section::Run,
            Section::Grid,
        ]
    } else {
        cli.only.clone()
    };
    preflight(&cli, &sections)?;
    if sections.iter().any(|s| *s != Section::Render) {
        e3::sim::netns::install_signal_handler().map_err(Error::Lab)?;
    }
    let start = Instant::now();
    let verbose = cli.verbose;
    let log = move |msg: &str| {
        if verbose {
            eprintln!("[{:6.1}s] {msg}", start.elapsed().as_secs_f64());
        }
    };
    let work = WorkDir::new()?;
    let runs = cli.runs as usize;
    let timeout = Duration::from_secs(cli.timeout.max(1));
    let mut results = Results {
        e3_bench: 1,
        e3_version: env!("CARGO_PKG_VERSION"),
        git_commit: Some(first_line(
            "git",
            &[
                "-C",
                env!("CARGO_MANIFEST_DIR"),
                "rev-parse",
                "--short",
                "HEAD",
            ],
        ))
        .filter(|c| !c.is_empty() && !c.contains(' ')),
        profile: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        unix_time: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        runs: cli.runs,
        machine: machine(&sections),
        render: None,
        lab: None,
        overlay: None,
        mininet: None,
        latency: None,
        run: None,
        grid: None,
        labs: Vec::new(),
        total_s: 0.0,
    };
    if sections.contains(&Section::Render) {
        eprintln!("render: sizes {:?}, {runs} runs each", cli.render_sizes);
        results.render = Some(render::measure(&cli.render_sizes, runs, &work.0, &log)?);
    }
    if sections.contains(&Section::Lab) {
        eprintln!(
            "lab bring-up: Nebula with {:?} parties, {runs} runs each",
            cli.lab_sizes
        );
        results.lab = Some(lab::measure_bringup(
            &cli.lab_sizes,
            runs,
            timeout,
            &mut results.labs,
            &log,
        )?);
    }
    if sections.contains(&Section::Overlay) {
        let mut backends = vec!["direct"];
        backends.extend(
            cli.overlays
                .iter()
                .map(String::as_str)
                .filter(|b| *b != "direct"),
        );
        eprintln!("overlay overhead: {backends:?}, {runs} runs each");
        results.overlay = Some(lab::measure_overlay(
            &backends,
            runs,
            cli.rounds,
            cli.iperf_seconds,
            timeout,
            &mut results.labs,
            &log,
        )?);
    }
    if sections.contains(&Section::Mininet) {
        eprintln!(
            "peer: e3 and Mininet with {:?} hosts behind NAT, {runs} runs each",
            cli.mininet_hosts
        );
        results.mininet = Some(mininet::measure(
            &cli.mininet_hosts,
            runs,
            &work.0,
            &mut results.labs,
            &log,
        )?);
    }
    if sections.contains(&Section::Latency) {
        let pairs = cli
            .latency_pairs
            .iter()
            .map(|p| latency::parse_pair(p))
            .collect::<Result<Vec<_>, _>>()?;
        let mut backends = vec!["direct"];
        backends.extend(latency_overlays(&cli));
        eprintln!(
            "latency: {backends:?} × {:?}, {runs} runs each",
            cli.latency_pairs
        );
        results.latency = Some(latency::measure_latency(
            &pairs,
            &backends,
            runs,
            cli.latency_rounds,
            cli.iperf_seconds,
            timeout,
            &mut results.labs,
            &log,
        )?);
    }
    if sections.contains(&Section::Run) {
        eprintln!(
            "full runs: Nebula with {:?} parties, {runs} runs each",
            cli.run_sizes
        );
        results.run = Some(lab::measure_run(
            &cli.run_sizes,
            runs,
            timeout,
            &mut results.labs,
            &log,
        )?);
    }
    if sections.contains(&Section::Grid) {
        let specs = cli
            .grids
            .iter()
            .map(|g| grid::Spec::parse(g))
            .collect::<Result<Vec<_>, _>>()?;
        eprintln!(
            "grids: {:?}, ways {:?}, {runs} runs each",
            cli.grids, cli.grid_ways
        );
        results.grid = Some(grid::measure(
            &specs,
            &cli.grid_ways,
            usize::from(cli.grid_jobs),
            cli.grid_baseline.as_deref(),
            runs,
            timeout,
            &work.0,
            &log,
        )?);
    }
    results.machine.loadavg_end = loadavg();
    results.total_s = (start.elapsed().as_secs_f64() * 10.0).round() / 10.0;
    let json = serde_json::to_string_pretty(&results)? + "\n";
    write_atomic(&cli.json, &json)?;
    print!("{}", table(&results));
    eprintln!("wrote {}", cli.json.display());
    let missing = unmeasured(&results);
    if missing.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("error: every run failed for: {}", missing.join(", "));
        Ok(ExitCode::from(1))
    }
}

fn main() -> ExitCode {
    // The lab's daemons from `.tools/bin/` first, as `e3` does.
    if let Some(path) = e3::tools::path_with(&e3::tools::tool_dirs(), std::env::var_os("PATH")) {
        // SAFETY: first thing in main, before any thread exists.
        unsafe { std::env::set_var("PATH", path) };
    }
    // The rendering child: one pipeline run, measured by the parent.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "__render-once") {
        return match (args.get(2), args.get(3)) {
            (Some(file), Some(out)) => match render::child(Path::new(file), Path::new(out)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprint!("{}", e3::error::render(&e));
                    ExitCode::from(1)
                }
            },
            _ => {
                eprintln!("usage: e3-bench __render-once SCENARIO OUTDIR");
                ExitCode::from(2)
            }
        };
    }
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprint!("{}", e3::error::render(&e));
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(median: f64, min: f64, max: f64) -> Stat {
        Stat {
            median,
            min,
            max,
            samples: vec![min, median, max],
        }
    }

    /// Every section, with a failed run where a section shows them and a
    /// figure that could not be measured.
    fn results() -> Results {
        let s = |m| Some(stat(m, m * 0.9, m * 1.2));
        Results {
            e3_bench: 1,
            e3_version: "0.0.0",
            git_commit: None,
            profile: "release",
            unix_time: 0,
            runs: 3,
            machine: Machine {
                cpu: "Test CPU".into(),
                cpus: 2,
                kernel: "6.1.0".into(),
                loadavg_start: "0.10".into(),
                loadavg_end: "0.20".into(),
                tools: Vec::new(),
            },
            render: Some(render::Figure {
                sizes: [(3, 0.0042), (100, 0.051)]
                    .into_iter()
                    .map(|(n, t)| render::Size {
                        parties: n,
                        hosts: n * 2 + 1,
                        yaml_bytes: 100 * n,
                        files: 10 + n,
                        bytes: 5000 * n,
                        pipeline_s: stat(t, t * 0.9, t * 1.1),
                        load_validate_s: stat(t / 3.0, t / 4.0, t / 2.0),
                        plan_s: stat(t / 3.0, t / 4.0, t / 2.0),
                        render_s: stat(t / 3.0, t / 4.0, t / 2.0),
                        write_s: stat(t * 2.0, t, t * 3.0),
                        peak_rss_kib: stat(12345.0, 12000.0, 13000.0),
                        per_party_us: 1402.5,
                    })
                    .collect(),
                growth: vec![render::Growth {
                    from: 3,
                    to: 100,
                    parties_ratio: 33.3,
                    time_ratio: Some(12.1),
                    memory_ratio: None,
                    time_us_per_added_party: 482.5,
                    memory_kib_per_added_party: 3.25,
                }],
            }),
            lab: Some(lab::BringUpFigure {
                sizes: vec![
                    lab::BringUpSize {
                        backend: "nebula".into(),
                        parties: 3,
                        namespaces: 7,
                        topology_s: s(0.31),
                        daemons_s: s(0.52),
                        overlay_s: s(1.5),
                        bringup_s: s(2.02),
                        teardown_s: s(0.4),
                        bringup_per_party_s: Some(0.673),
                        failures: Vec::new(),
                    },
                    lab::BringUpSize {
                        backend: "nebula".into(),
                        parties: 8,
                        namespaces: 17,
                        topology_s: None,
                        daemons_s: None,
                        overlay_s: None,
                        bringup_s: None,
                        teardown_s: None,
                        bringup_per_party_s: None,
                        failures: vec!["run 1: x".into(), "run 2: y".into()],
                    },
                ],
                bringup_s_per_added_party: Some(0.125),
                teardown_s_per_added_party: None,
            }),
            overlay: Some(lab::OverlayFigure {
                rounds: 1000,
                iperf_seconds: 3,
                backends: vec![
                    lab::OverlayBackend {
                        backend: "direct".into(),
                        path: "underlay".into(),
                        per_round_ms: s(0.123),
                        throughput_mbps: s(25000.0),
                        round_time_ratio: Some(1.0),
                        throughput_ratio: Some(1.0),
                        wire_ratio: s(1.5),
                        wire_ratio_vs_direct: Some(1.0),
                        failures: Vec::new(),
                    },
                    lab::OverlayBackend {
                        backend: "nebula".into(),
                        path: "tunnel".into(),
                        per_round_ms: s(0.456),
                        throughput_mbps: None,
                        round_time_ratio: Some(3.71),
                        throughput_ratio: None,
                        wire_ratio: s(2.25),
                        wire_ratio_vs_direct: Some(1.5),
                        failures: vec!["run 2: iperf3".into()],
                    },
                ],
            }),
            mininet: Some(mininet::Figure {
                mininet_version: None,
                e3_method: String::new(),
                mininet_method: String::new(),
                sizes: vec![mininet::PeerSize {
                    hosts: 4,
                    e3: mininet::Side {
                        bringup_s: s(0.2),
                        build_s: s(0.1),
                        reach_s: s(0.1),
                        teardown_s: s(0.05),
                    },
                    mininet: mininet::Side {
                        bringup_s: s(1.2),
                        build_s: s(1.0),
                        reach_s: s(0.2),
                        teardown_s: s(0.5),
                    },
                    bringup_ratio: Some(6.0),
                    teardown_ratio: Some(10.0),
                    failures: vec!["e3 run 1: h1 did not reach the public host".into()],
                }],
            }),
            latency: Some(latency::Figure {
                rounds: 20,
                iperf_seconds: 3,
                unavailable: vec!["netem".into()],
                cells: vec![
                    latency::Cell {
                        pair: "ams3-fra1".into(),
                        backend: "direct".into(),
                        method: e3::sim::latency::Method::None,
                        rtt_model_ms: 0.0,
                        rtt_ms: s(0.05),
                        error_ms: Some(0.05),
                        error_percent: None,
                        per_round_ms: s(0.3),
                        per_round_per_rtt: Some(6.0),
                        wall_s: s(1.25),
                        throughput_mbps: s(20000.0),
                        throughput_vs_none: Some(1.0),
                        delay_line_cpu_percent: None,
                        delay_line_us_per_packet: None,
                        failures: Vec::new(),
                    },
                    latency::Cell {
                        pair: "ams3-sgp1".into(),
                        backend: "nebula".into(),
                        method: e3::sim::latency::Method::Nfqueue,
                        rtt_model_ms: 162.35,
                        rtt_ms: s(165.5),
                        error_ms: Some(3.15),
                        error_percent: Some(1.9),
                        per_round_ms: s(83.0),
                        per_round_per_rtt: Some(0.502),
                        wall_s: s(4.5),
                        throughput_mbps: s(95.0),
                        throughput_vs_none: Some(0.25),
                        delay_line_cpu_percent: s(12.5),
                        delay_line_us_per_packet: s(3.25),
                        failures: vec!["run 1: no ICMP echo came back".into()],
                    },
                ],
            }),
            run: Some(lab::RunFigure {
                sizes: vec![lab::RunSize {
                    backend: "nebula".into(),
                    parties: 16,
                    pairs: 120,
                    total_s: s(30.5),
                    setup_s: s(2.5),
                    overlay_s: s(10.0),
                    mpc_s: s(12.0),
                    report_s: s(4.0),
                    teardown_s: s(2.0),
                    report_percent: s(13.1),
                    failures: vec!["run 3: failed".into()],
                }],
            }),
            grid: Some(grid::tests::figure()),
            labs: Vec::new(),
            total_s: 123.4,
        }
    }

    /// The table as the benchmark prints it: every section, its columns,
    /// units and notes (`tests/table.txt`; `E3_BLESS=1` rewrites it).
    #[test]
    fn the_table_keeps_its_layout() {
        let got = table(&results());
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/table.txt");
        if std::env::var_os("E3_BLESS").is_some_and(|v| v == "1") {
            std::fs::write(&path, &got).expect("write tests/table.txt");
        }
        let want = std::fs::read_to_string(&path).expect("tests/table.txt");
        assert_eq!(got, want, "the table changed");
    }
}
