//! `e3 grid`: every variant of a matrix scenario in the local NAT lab, one
//! after another, into `results/NAME/`: `grid.json`, and a figure
//! (`grid.svg`, `grid.html`, see [`figure`]).
//!
//! With `--runs N` every cell runs N times and keeps every sample
//! ([`Sample`]) beside its median, minimum and maximum. Cells whose plans
//! differ only in their program (name and arguments), and the runs of one
//! cell, share a lab ([`crate::sim::session::lab_key`]): it is built once,
//! each run takes the overlay as the lab's first found it, and a lab is
//! torn down while the next one comes up ([`Labs`]). Each
//! sample is cached on its own: run 1 under `cells/<hash>.json`, run k under
//! `cells/<hash>.<k>.json`, keyed by the variant's content hash
//! ([`cell_hash`]: e3's version, the variant's plan, the program files, the
//! time bound), so a re-run only runs what changed, and raising N runs only
//! the missing samples. The outputs are rewritten after every sample, so an
//! interrupted grid keeps what finished. A matrix with an ordered axis
//! (`count`, `placement`, `loss`) also gets a plot ([`plot`]).

pub mod figure;
pub mod plot;

use std::collections::BTreeMap;
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::matrix::Axes;
use crate::plan::{HostName, Plan};
use crate::sim::report::Report;

/// Version of the cell format; part of the hash, so a change re-runs cells.
const CELL_FORMAT: u32 = 2;

/// How one cell ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The program succeeded and every pair went direct (no pair's
    /// [`crate::sim::RouteKind`] is `relayed`; see [`outcome`]).
    Direct,
    /// The program succeeded, and at least one pair went through a relay
    /// ([`crate::sim::RouteKind::Relayed`]).
    Relayed,
    /// The experiment ran and failed (no overlay, or MPyC failed).
    Failed,
    /// The lab could not run it (a missing program, a daemon that died at
    /// start): no result. Not cached.
    Error,
    /// Not run yet (an interrupted grid).
    Pending,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Direct => "direct",
            Outcome::Relayed => "relayed",
            Outcome::Failed => "failed",
            Outcome::Error => "error",
            Outcome::Pending => "pending",
        }
    }
}

/// One variant's result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cell {
    /// The variant's full name, `NAME@backend=…`.
    pub variant: String,
    pub label: String,
    pub settings: BTreeMap<String, String>,
    /// The variant's content hash (hex SHA-256), the cache key.
    pub hash: String,
    pub outcome: Outcome,
    /// Taken from the cache rather than run now.
    #[serde(default)]
    pub cached: bool,
    /// Seconds until every pair answered over the overlay (none for `direct`).
    pub overlay_up_s: Option<f64>,
    /// Seconds of the MPyC run (none when it did not run).
    pub mpc_wall_s: Option<f64>,
    /// The program's result (party 0's).
    pub result: Option<serde_json::Value>,
    /// Per pair, `a-b: route`.
    pub routes: Vec<String>,
    /// Why it failed (or the lab's error).
    pub reason: Option<String>,
    /// Seconds the cell took: its lab's set-up (none for a run on a shared
    /// lab, see `lab_run`) and its run; the teardown too with `--fresh-labs`.
    pub duration_s: f64,
    /// Which program run on its lab this was (1: the lab was built for it;
    /// k: the k-th run on a lab shared with cells of the same topology and
    /// backend, whose `overlay_up_s` it carries).
    #[serde(default = "first_run")]
    pub lab_run: u32,
    /// The run on its lab that measured `rtt` (see
    /// [`crate::sim::report::Report::rtt_lab_run`]).
    #[serde(default = "first_run")]
    pub rtt_lab_run: u32,
    /// What ran it: each daemon's version, Python's and MPyC's (part of
    /// the cache key).
    #[serde(default)]
    pub versions: BTreeMap<String, String>,
    /// How the lab applied the latency (`netem`, `nfqueue`, `none`).
    #[serde(default)]
    pub latency: Option<crate::sim::latency::Method>,
    /// Per pair: the model's round trip and the measured one.
    #[serde(default)]
    pub rtt: Vec<PairRtt>,
    /// `simulation.faults`: each fault and every pair's recovery, one line
    /// each (`rebind alice-router at 1.01 s: alice-bob recovered after 0.52 s`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<String>,
    /// Fastest and slowest sample of `overlay_up_s` and `mpc_wall_s` (the
    /// fields above are the medians).
    #[serde(default)]
    pub overlay_up_s_min: Option<f64>,
    #[serde(default)]
    pub overlay_up_s_max: Option<f64>,
    #[serde(default)]
    pub mpc_wall_s_min: Option<f64>,
    #[serde(default)]
    pub mpc_wall_s_max: Option<f64>,
    /// Every run of this cell, in run order (empty in a cached sample file).
    #[serde(default)]
    pub samples: Vec<Sample>,
    /// Who learnt each party's addresses (see [`crate::sim::privacy`]).
    #[serde(default)]
    pub exposure: BTreeMap<HostName, crate::sim::privacy::PartyExposure>,
    /// The program's traffic on the internet segment, unencrypted.
    #[serde(default)]
    pub wan: Option<crate::sim::privacy::WanReport>,
    /// The program run's bytes on the internet segment against its payload.
    #[serde(default)]
    pub wire: Option<crate::sim::privacy::WireReport>,
}

impl Cell {
    /// Whether some party's public address reached another party (`None`
    /// without a capture).
    pub fn peers_learn_addresses(&self) -> Option<bool> {
        (!self.exposure.is_empty())
            .then(|| crate::sim::privacy::peers_learn_addresses(&self.exposure))
    }
}

/// One run of a cell: a fresh lab.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sample {
    /// 1-based.
    pub run: usize,
    pub outcome: Outcome,
    pub cached: bool,
    /// See [`Cell::lab_run`].
    pub lab_run: u32,
    /// See [`Cell::rtt_lab_run`].
    pub rtt_lab_run: u32,
    pub overlay_up_s: Option<f64>,
    pub mpc_wall_s: Option<f64>,
    pub duration_s: f64,
    pub result: Option<serde_json::Value>,
    pub routes: Vec<String>,
    pub reason: Option<String>,
    pub rtt: Vec<PairRtt>,
    /// The run's bytes on the internet segment against its payload
    /// ([`crate::sim::privacy`]).
    #[serde(default)]
    pub wire: Option<crate::sim::privacy::WireReport>,
}

fn first_run() -> u32 {
    1
}

/// A pair's round trips in a cell, in ms (see [`crate::sim::report::PairReport`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PairRtt {
    /// `a-b`
    pub pair: String,
    pub rtt_model_ms: Option<f64>,
    pub rtt_ms: Option<f64>,
}

/// A grid run: every cell, in variant order.
#[derive(Debug, Clone, Serialize)]
pub struct Grid {
    pub scenario: String,
    pub description: String,
    pub e3_version: String,
    /// The per-phase time bound of every cell.
    pub timeout_s: u64,
    /// Runs (samples) per cell.
    pub runs: usize,
    /// Labs at a time (`--jobs`): above 1, runs of different labs shared the machine.
    pub jobs: usize,
    pub axes: Axes,
    pub cells: Vec<Cell>,
}

/// A variant to run.
pub struct GridVariant {
    pub label: String,
    pub settings: Vec<(String, String)>,
    pub plan: Plan,
}

impl GridVariant {
    /// The variants of `m` that `only` keeps (`e3 grid --only`), planned.
    pub fn all_of(m: &crate::CheckedMatrix, only: &crate::matrix::Only) -> Vec<GridVariant> {
        m.variants
            .iter()
            .filter(|v| only.matches(&v.settings))
            .map(|v| GridVariant {
                label: v.label.clone(),
                settings: v.settings.clone(),
                plan: crate::plan::plan(&v.scenario),
            })
            .collect()
    }
}

pub struct Options {
    /// Per-phase time bound of each cell (overlay, then MPyC).
    pub timeout: Duration,
    /// Ignore cached results.
    pub fresh: bool,
    /// Where the outputs go (`results/NAME`).
    pub dir: PathBuf,
    /// Python with MPyC; found automatically when `None`.
    pub python: Option<PathBuf>,
    /// `--latency`, as for `e3 sim` (part of the cache key when given).
    pub latency: Option<crate::sim::latency::Method>,
    /// Runs per cell (at least 1).
    pub runs: usize,
    /// How labs are shared and torn down.
    pub labs: Labs,
    /// Labs at a time (`--jobs`, at least 1): each works through groups of
    /// runs that share a lab, so with more than one the runs of different
    /// labs share the machine.
    pub jobs: usize,
}

/// How `e3 grid` uses its labs (`e3-bench --only grid` compares the two).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Labs {
    /// Runs whose plans have one [`crate::sim::session::lab_key`] run one
    /// after another on one lab (a lab is shared only after a successful
    /// run, and never with `simulation.faults`); a lab is torn down in the
    /// background while the next one is built, and the next program starts
    /// only once it is gone, so that no program shares the machine with
    /// another lab's teardown.
    #[default]
    Shared,
    /// `--fresh-labs`: every run its own lab, torn down before the next
    /// starts (what e3 did before).
    Fresh,
}

/// The content hash of a variant: what decides its result.
pub fn cell_hash(plan: &Plan, timeout: Duration, versions: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    h.update(format!(
        "e3 grid cell {CELL_FORMAT}\n{}\n{}\n",
        env!("CARGO_PKG_VERSION"),
        timeout.as_secs()
    ));
    for (k, v) in versions {
        h.update(format!("{k} {v}\n"));
    }
    h.update(plan.to_json());
    for (path, bytes) in crate::bundled::program_files() {
        h.update(path);
        h.update(bytes);
    }
    // A program given by path, with its `program.files`.
    if let Some(p) = &plan.program.path {
        let tree = crate::files::program_tree(
            std::path::Path::new(p),
            &plan.program.files,
            plan.program.workdir.as_deref(),
        )
        .unwrap_or_default();
        for (rel, bytes) in tree {
            h.update(rel.display().to_string());
            h.update(bytes.len().to_le_bytes());
            h.update(bytes);
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The cell a lab report makes.
pub fn outcome(report: &Report) -> (Outcome, Option<String>) {
    if report.ok {
        let relayed = report
            .pairs
            .iter()
            .any(|p| p.route == crate::sim::RouteKind::Relayed);
        (
            if relayed {
                Outcome::Relayed
            } else {
                Outcome::Direct
            },
            None,
        )
    } else {
        let reason = report
            .diagnosis
            .first()
            .cloned()
            .unwrap_or_else(|| report.verdict.clone());
        (Outcome::Failed, Some(reason))
    }
}

/// A cell with no result yet.
fn blank(v: &GridVariant, hash: String, outcome: Outcome) -> Cell {
    Cell {
        variant: v.plan.name.clone(),
        label: v.label.clone(),
        settings: v.settings.iter().cloned().collect(),
        hash,
        outcome,
        cached: false,
        overlay_up_s: None,
        mpc_wall_s: None,
        result: None,
        routes: Vec::new(),
        reason: None,
        duration_s: 0.0,
        lab_run: 1,
        rtt_lab_run: 1,
        versions: BTreeMap::new(),
        latency: None,
        rtt: Vec::new(),
        faults: Vec::new(),

        overlay_up_s_min: None,
        overlay_up_s_max: None,
        mpc_wall_s_min: None,
        mpc_wall_s_max: None,
        samples: Vec::new(),
        exposure: BTreeMap::new(),
        wan: None,
        wire: None,
    }
}

/// The cache file of run `run` (1-based) of a cell.
fn sample_file(cells_dir: &Path, hash: &str, run: usize) -> PathBuf {
    if run == 1 {
        cells_dir.join(format!("{hash}.json"))
    } else {
        cells_dir.join(format!("{hash}.{run}.json"))
    }
}

/// How bad an outcome is, for a cell's outcome over its samples.
fn severity(o: Outcome) -> u8 {
    match o {
        Outcome::Direct => 0,
        Outcome::Relayed => 1,
        Outcome::Failed => 2,
        Outcome::Error => 3,
        Outcome::Pending => 4,
    }
}

/// Median (mean of the middle two for an even count), minimum, maximum.
pub fn stats(values: &[f64]) -> Option<(f64, f64, f64)> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    let round = |x: f64| (x * 1e6).round() / 1e6;
    Some((round(median), v[0], v[n - 1]))
}

/// A cell from its runs (`None`: not run yet). Its outcome is the worst of
/// the finished runs' (failed over relayed over direct; an `error` run makes
/// it `error`), pending when none finished; times are the median, minimum
/// and maximum of the successful runs (of all runs when none succeeded);
/// result, routes, round trips, faults, exposure and wire figures are the
/// first finished run's (every run's wire figures are in its sample), the reason
/// the first failed one's.
fn aggregate(v: &GridVariant, hash: &str, runs: &[Option<Cell>]) -> Cell {
    let done: Vec<(usize, &Cell)> = runs
        .iter()
        .enumerate()
        .filter_map(|(k, c)| c.as_ref().map(|c| (k + 1, c)))
        .collect();
    let mut cell = blank(v, hash.to_string(), Outcome::Pending);
    cell.samples = done
        .iter()
        .map(|(k, c)| Sample {
            run: *k,
            outcome: c.outcome,
            cached: c.cached,
            lab_run: c.lab_run,
            rtt_lab_run: c.rtt_lab_run,
            overlay_up_s: c.overlay_up_s,
            mpc_wall_s: c.mpc_wall_s,
            duration_s: c.duration_s,
            result: c.result.clone(),
            routes: c.routes.clone(),
            reason: c.reason.clone(),
            rtt: c.rtt.clone(),
            wire: c.wire,
        })
        .collect();
    let Some((_, first)) = done.first() else {
        return cell;
    };
    cell.outcome = done
        .iter()
        .map(|(_, c)| c.outcome)
        .max_by_key(|o| severity(*o))
        .unwrap_or(Outcome::Pending);
    cell.cached = done.iter().all(|(_, c)| c.cached);
    cell.result = first.result.clone();
    cell.routes = first.routes.clone();
    cell.versions = first.versions.clone();
    cell.latency = first.latency;
    cell.rtt = first.rtt.clone();
    cell.faults = first.faults.clone();
    cell.exposure = first.exposure.clone();
    cell.wan = first.wan;
    cell.wire = first.wire;
    cell.reason = done.iter().find_map(|(_, c)| c.reason.clone());
    cell.duration_s = (done.iter().map(|(_, c)| c.duration_s).sum::<f64>() * 10.0).round() / 10.0;
    let ok: Vec<&Cell> = done
        .iter()
        .map(|(_, c)| *c)
        .filter(|c| matches!(c.outcome, Outcome::Direct | Outcome::Relayed))
        .collect();
    let pool: Vec<&Cell> = if ok.is_empty() {
        done.iter().map(|(_, c)| *c).collect()
    } else {
        ok
    };
    let of =
        |f: fn(&Cell) -> Option<f64>| stats(&pool.iter().filter_map(|c| f(c)).collect::<Vec<_>>());
    if let Some((m, lo, hi)) = of(|c| c.overlay_up_s) {
        (
            cell.overlay_up_s,
            cell.overlay_up_s_min,
            cell.overlay_up_s_max,
        ) = (Some(m), Some(lo), Some(hi));
    }
    if let Some((m, lo, hi)) = of(|c| c.mpc_wall_s) {
        (cell.mpc_wall_s, cell.mpc_wall_s_min, cell.mpc_wall_s_max) = (Some(m), Some(lo), Some(hi));
    }
    cell
}

/// Why a grid stopped (a cell the lab could not run is an `error` cell,
/// not an `Error`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot create `{}`: {source}", path.display())]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write `{}`: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A signal arrived: the lab is torn down, finished cells are written.
    #[error("{}", crate::sim::netns::INTERRUPTED)]
    Interrupted,
}

impl crate::error::Hinted for Error {}

/// The cell of a finished lab run (`Err`: the lab could not run it).
fn cell_from(
    v: &GridVariant,
    hash: String,
    result: Result<Report, crate::sim::Error>,
    duration: Duration,
) -> Cell {
    let mut cell = blank(v, hash, Outcome::Error);
    cell.duration_s = (duration.as_secs_f64() * 10.0).round() / 10.0;
    match result {
        Ok(r) => {
            let (o, reason) = outcome(&r);
            cell.outcome = o;
            cell.reason = reason;
            cell.overlay_up_s = r.overlay_up_s;
            cell.lab_run = r.lab_run;
            cell.rtt_lab_run = r.rtt_lab_run;
            cell.versions = r.versions.clone();
            cell.mpc_wall_s = r.mpc_wall_s;
            cell.result = r
                .parties
                .iter()
                .find(|p| p.index == 0)
                .and_then(|p| p.result.clone());
            cell.routes = r
                .pairs
                .iter()
                .map(|p| format!("{}-{}: {}", p.a, p.b, p.route))
                .collect();
            cell.latency = Some(r.latency.applied);
            cell.faults = r
                .faults
                .iter()
                .map(|f| {
                    let pairs: Vec<String> = f
                        .pairs
                        .iter()
                        .map(|p| match p.after_s {
                            Some(t) => format!("{}-{} recovered after {t:.2} s", p.a, p.b),
                            None => format!("{}-{} did not recover", p.a, p.b),
                        })
                        .collect();
                    format!(
                        "{} {} at {}: {}",
                        f.action,
                        f.target,
                        f.applied_s
                            .map_or_else(|| "-".to_string(), |t| format!("{t:.2} s")),
                        if f.applied {
                            pairs.join(", ")
                        } else {
                            f.outcome.clone()
                        }
                    )
                })
                .collect();
            cell.exposure = r.exposure.clone();
            cell.wan = r.wan;
            cell.wire = r.wire;
            cell.rtt = r
                .pairs
                .iter()
                .map(|p| PairRtt {
                    pair: format!("{}-{}", p.a, p.b),
                    rtt_model_ms: p.rtt_model_ms,
                    rtt_ms: p.rtt_ms,
                })
                .collect();
        }
        Err(e) => {
            let reason = crate::error::one_line(&e);
            cell.reason = Some(reason.lines().next().unwrap_or_default().to_string());
        }
    }
    cell
}

/// Runs the grid: cached cells first taken from `dir/cells/`, the rest run
/// one after another; the outputs rewritten after each cell.
pub fn run(
    base: &str,
    description: &str,
    axes: &Axes,
    variants: &[GridVariant],
    opts: &Options,
) -> Result<Grid, Error> {
    let cells_dir = opts.dir.join("cells");
    std::fs::create_dir_all(&cells_dir).map_err(|source| Error::Create {
        path: cells_dir.clone(),
        source,
    })?;
    let timeout_s = opts.timeout.as_secs();
    let mut grid = Grid {
        scenario: base.to_string(),
        description: description.to_string(),
        e3_version: env!("CARGO_PKG_VERSION").to_string(),
        timeout_s,
        runs: opts.runs.max(1),
        jobs: opts.jobs.max(1),
        axes: axes.clone(),
        cells: Vec::new(),
    };
    // The versions of what each backend runs, asked once per backend.
    let python = match &opts.python {
        Some(p) => Some(p.clone()),
        None => crate::sim::find_python().ok(),
    };
    let mut versions: BTreeMap<crate::catalogue::Backend, BTreeMap<String, String>> =
        BTreeMap::new();
    let hashes: Vec<String> = variants
        .iter()
        .map(|v| {
            let backend = v.plan.connectivity.backend;
            let versions = versions.entry(backend).or_insert_with(|| {
                python.as_deref().map_or_else(BTreeMap::new, |py| {
                    crate::sim::versions::collect(backend, py)
                })
            });
            // `--latency` decides results too: keyed beside the versions.
            let mut key = versions.clone();
            if let Some(m) = opts.latency {
                key.insert("e3 --latency".into(), m.to_string());
            }
            cell_hash(&v.plan, opts.timeout, &key)
        })
        .collect();
    // Cached samples, and the runs still to do: run 1 of every cell first,
    // then run 2 of every cell, …, so that drifting load spreads over all.
    let runs = opts.runs.max(1);
    grid.runs = runs;
    let mut samples: Vec<Vec<Option<Cell>>> = Vec::new();
    let mut todo: Vec<(usize, usize)> = Vec::new();
    for (v, hash) in variants.iter().zip(&hashes) {
        let have: Vec<Option<Cell>> = (1..=runs)
            .map(|k| {
                if opts.fresh {
                    return None;
                }
                read_cell(&sample_file(&cells_dir, hash, k)).map(|mut c| {
                    c.cached = true;
                    c.variant = v.plan.name.clone();
                    c
                })
            })
            .collect();
        grid.cells.push(aggregate(v, hash, &have));
        samples.push(have);
    }
    for k in 1..=runs {
        for (i, have) in samples.iter().enumerate() {
            if have[k - 1].is_none() {
                todo.push((i, k));
            }
        }
    }
    write_outputs(&opts.dir, &grid)?;
    let total = variants.len() * runs;
    let mut progress = Progress::new(
        total,
        total - todo.len(),
        todo.iter()
            .map(|&(i, _)| variants[i].plan.connectivity.backend)
            .collect(),
        opts.jobs,
    );
    let sim_opts = crate::sim::Options {
        timeout: opts.timeout,
        python: opts.python.clone(),
        progress: false,
        latency: opts.latency,
        ..crate::sim::Options::default()
    };
    let keys: Vec<Option<String>> = variants
        .iter()
        .map(|v| {
            (opts.labs == Labs::Shared)
                .then(|| crate::sim::session::lab_key(&v.plan))
                .flatten()
        })
        .collect();
    let groups = schedule(&todo, &keys);
    // Backends take turns (a lab of each, then the next of each, …), so
    // that a machine's drifting load spreads over all of them; with
    // `--fresh-labs` the order stays as e3 had it.
    let groups = if opts.labs == Labs::Fresh {
        groups
    } else {
        take_turns(groups, |g| variants[g[0].0].plan.connectivity.backend)
    };
    let queue = std::sync::Mutex::new(std::collections::VecDeque::from(groups));
    let stop = std::sync::atomic::AtomicBool::new(false);
    let stopped =
        || stop.load(std::sync::atomic::Ordering::SeqCst) || crate::sim::netns::interrupted();
    let (tx, rx) = std::sync::mpsc::channel::<Event>();
    // The versions asked above, not again per lab (but with `--fresh-labs`,
    // which does what e3 did before).
    let per_cell = |i: usize| crate::sim::Options {
        versions: (opts.labs != Labs::Fresh)
            .then(|| {
                versions
                    .get(&variants[i].plan.connectivity.backend)
                    .cloned()
            })
            .flatten(),
        ..sim_opts.clone()
    };
    let mut failure = None;
    std::thread::scope(|scope| {
        for _ in 0..opts.jobs.max(1) {
            let tx = tx.clone();
            let (queue, keys, stopped, per_cell) = (&queue, &keys, &stopped, &per_cell);
            scope.spawn(move || {
                let mut labs = LabPool {
                    scope,
                    going: Vec::new(),
                    kept: None,
                };
                while !stopped() {
                    let Some(group) = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front()
                    else {
                        break;
                    };
                    for (i, k) in group {
                        if stopped() {
                            break;
                        }
                        let _ = tx.send(Event::Start(i, k));
                        let plan = &variants[i].plan;
                        let started = Instant::now();
                        let (result, took) = if opts.labs == Labs::Fresh {
                            // One lab per run, torn down before the next:
                            // as e3 did before labs were shared (the
                            // baseline of `e3-bench --only grid`).
                            let r = crate::sim::run_lab(plan, &per_cell(i));
                            (r, started.elapsed())
                        } else {
                            labs.run(plan, keys[i].as_ref(), &per_cell(i), started)
                        };
                        let _ = tx.send(Event::Done(i, k, Box::new(result), took));
                    }
                }
                // `labs` goes here: its labs are torn down before the
                // lane ends.
            });
        }
        drop(tx);
        let label = |i: usize, k: usize| {
            if runs > 1 {
                format!("{} (run {k}/{runs})", variants[i].label)
            } else {
                variants[i].label.clone()
            }
        };
        for event in rx {
            match event {
                Event::Start(i, k) => progress.start(&label(i, k)),
                Event::Done(i, k, result, took) => {
                    if crate::sim::netns::interrupted() || failure.is_some() {
                        // The sample stays pending; the finished ones are
                        // written.
                        continue;
                    }
                    let v = &variants[i];
                    let cell = cell_from(v, hashes[i].clone(), *result, took);
                    let written = if cell.outcome == Outcome::Error {
                        Ok(())
                    } else {
                        write_json(&sample_file(&cells_dir, &cell.hash, k), &cell)
                    };
                    progress.done(v.plan.connectivity.backend, &label(i, k), &cell, took);
                    samples[i][k - 1] = Some(cell);
                    grid.cells[i] = aggregate(v, &hashes[i], &samples[i]);
                    if let Err(e) = written.and_then(|()| write_outputs(&opts.dir, &grid)) {
                        failure = Some(e);
                        stop.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                }
            }
        }
    });
    progress.finish();
    if let Some(e) = failure {
        return Err(e);
    }
    if crate::sim::netns::interrupted() {
        return Err(Error::Interrupted);
    }
    Ok(grid)
}

/// `items` reordered so that those of each `kind` take turns: the first of
/// every kind (in the order the kinds first appear), then the second of
/// every kind, …; within a kind the order stays (pure).
pub fn take_turns<T, K: PartialEq>(items: Vec<T>, kind: impl Fn(&T) -> K) -> Vec<T> {
    let mut kinds: Vec<K> = Vec::new();
    let mut ranked: Vec<(usize, usize, T)> = Vec::new();
    let mut seen: Vec<usize> = Vec::new();
    for item in items {
        let k = kind(&item);
        let at = match kinds.iter().position(|x| *x == k) {
            Some(at) => at,
            None => {
                kinds.push(k);
                seen.push(0);
                kinds.len() - 1
            }
        };
        ranked.push((seen[at], at, item));
        seen[at] += 1;
    }
    ranked.sort_by_key(|&(rank, at, _)| (rank, at));
    ranked.into_iter().map(|(_, _, item)| item).collect()
}

/// What a lane of [`run`] tells the thread that writes the outputs.
enum Event {
    /// Run `k` of variant `i` starts.
    Start(usize, usize),
    /// It ended, after this long.
    Done(
        usize,
        usize,
        Box<Result<Report, crate::sim::Error>>,
        Duration,
    ),
}

/// The runs to do (`(variant, run)`, given run 1 of every variant first,
/// then run 2, …) as the labs' work: the runs of one lab key (`keys`, per
/// variant) form one group, in the given order, placed where the key's
/// first run is; a run of a variant without a key is a group of its own
/// (pure).
pub fn schedule(todo: &[(usize, usize)], keys: &[Option<String>]) -> Vec<Vec<(usize, usize)>> {
    let mut groups: Vec<Vec<(usize, usize)>> = Vec::new();
    for &(i, k) in todo {
        let shares = |g: &&mut Vec<(usize, usize)>| keys[i].is_some() && keys[g[0].0] == keys[i];
        match groups.iter_mut().find(shares) {
            Some(runs) => runs.push((i, k)),
            None => groups.push(vec![(i, k)]),
        }
    }
    groups
}

/// The labs of a grid run: the one kept for the next run of its key, and
/// those being torn down in the background.
struct LabPool<'scope, 'env, 'p: 'scope> {
    scope: &'scope std::thread::Scope<'scope, 'env>,
    going: Vec<std::thread::ScopedJoinHandle<'scope, Vec<String>>>,
    kept: Option<(String, crate::sim::session::LabSession<'p>)>,
}

impl<'scope, 'env, 'p: 'scope> LabPool<'scope, 'env, 'p> {
    /// Runs `plan` on the kept lab when it has `key`, else on a new lab
    /// (the kept one retired); keeps the lab for the next run after a
    /// successful run. Returns the report and how long this run took (its
    /// lab's bring-up included, its teardown not).
    fn run(
        &mut self,
        plan: &'p Plan,
        key: Option<&String>,
        opts: &crate::sim::Options,
        started: Instant,
    ) -> (Result<Report, crate::sim::Error>, Duration) {
        let mut session = match self.kept.take() {
            Some((k, s)) if Some(&k) == key => Some(s),
            Some((_, s)) => {
                self.retire(s);
                None
            }
            None => None,
        };
        let result = (|| {
            let s = match session.as_mut() {
                Some(s) => {
                    s.next_run(plan)?;
                    s
                }
                None => {
                    let mut s = crate::sim::session::LabSession::start(plan, opts)?;
                    // Come up while the last lab goes; the program waits
                    // until it is gone.
                    s.ensure_overlay(opts.timeout)?;
                    session.insert(s)
                }
            };
            self.wait_gone();
            crate::sim::netns::check_interrupted()?;
            crate::sim::run_on(s, opts)
        })();
        let duration = started.elapsed();
        let ok = result.as_ref().is_ok_and(|r| r.ok);
        if let Some(s) = session {
            match key {
                Some(k) if ok && !crate::sim::netns::interrupted() => {
                    self.kept = Some((k.clone(), s));
                }
                _ if result.is_err() || crate::sim::netns::interrupted() => {
                    // Torn down here, at once.
                    let mut s = s;
                    warn_teardown(s.teardown());
                }
                _ => self.retire(s),
            }
        }
        (result, duration)
    }

    /// Tears a lab down in the background.
    fn retire(&mut self, mut s: crate::sim::session::LabSession<'p>) {
        self.going.push(self.scope.spawn(move || s.teardown()));
    }

    /// Waits until the labs being torn down are gone.
    fn wait_gone(&mut self) {
        for h in self.going.drain(..) {
            warn_teardown(
                h.join()
                    .unwrap_or_else(|_| vec!["a teardown panicked".into()]),
            );
        }
    }
}

impl<'scope, 'env, 'p: 'scope> Drop for LabPool<'scope, 'env, 'p> {
    fn drop(&mut self) {
        if let Some((_, mut s)) = self.kept.take() {
            warn_teardown(s.teardown());
        }
        self.wait_gone();
    }
}

fn warn_teardown(problems: Vec<String>) {
    for p in problems {
        crate::say!("warning: teardown: {p}");
    }
}

fn read_cell(path: &Path) -> Option<Cell> {
    let bytes = crate::files::read_regular(path, crate::files::TEXT_LIMIT).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value)? + "\n";
    write_file(path, text.as_bytes())
}

/// Writes through a temporary file and a rename, so a reader (or an
/// interrupted run) never sees half a file.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| {
            let _ = std::fs::remove_file(&tmp);
            Error::Write {
                path: path.to_path_buf(),
                source,
            }
        })
}

/// `grid.json`, `grid.svg`, `grid.html`, and `plot.svg`, `plot.html` when
/// the matrix has an ordered axis ([`plot::x_axis`]).
pub fn write_outputs(dir: &Path, grid: &Grid) -> Result<(), Error> {
    write_json(&dir.join("grid.json"), grid)?;
    let svg = figure::svg(grid);
    write_file(&dir.join("grid.svg"), svg.as_bytes())?;
    write_file(&dir.join("grid.html"), figure::html(grid, &svg).as_bytes())?;
    if let Some(svg) = plot::svg(grid) {
        write_file(&dir.join("plot.svg"), svg.as_bytes())?;
        write_file(&dir.join("plot.html"), plot::html(grid, &svg).as_bytes())?;
    }
    Ok(())
}

/// A progress bar on a terminal, a line per cell otherwise.
struct Progress {
    total: usize,
    finished: usize,
    /// Backends of the cells still to run.
    pending: Vec<crate::catalogue::Backend>,
    /// Per backend: cells run and seconds spent.
    by_backend: BTreeMap<crate::catalogue::Backend, (usize, f64)>,
    ran: usize,
    spent: Duration,
    started: Instant,
    tty: bool,
    /// Labs at a time.
    jobs: usize,
}

impl Progress {
    fn new(
        total: usize,
        cached: usize,
        pending: Vec<crate::catalogue::Backend>,
        jobs: usize,
    ) -> Progress {
        let to_run = pending.len();
        let tty = std::io::stderr().is_terminal();
        if cached > 0 {
            crate::say!("{cached} of {total} runs from the cache; {to_run} to run");
        } else {
            crate::say!("{to_run} runs to do");
        }
        Progress {
            total,
            finished: cached,
            pending,
            by_backend: BTreeMap::new(),
            ran: 0,
            spent: Duration::ZERO,
            started: Instant::now(),
            tty,
            jobs: jobs.max(1),
        }
    }

    /// Time left: each cell still to run is estimated by the mean of the
    /// cells of its backend run so far (failures wait out the time bound,
    /// successes take seconds), else by the mean of all.
    fn eta(&self) -> String {
        if self.ran == 0 {
            return "estimating".into();
        }
        let overall = self.spent.as_secs_f64() / self.ran as f64;
        let left: f64 = self
            .pending
            .iter()
            .map(|b| match self.by_backend.get(b) {
                Some((n, t)) => t / *n as f64,
                None => overall,
            })
            .sum::<f64>()
            / self.jobs as f64;
        format!("about {} left", clock(left))
    }

    fn start(&mut self, label: &str) {
        if self.tty {
            let width = 24;
            let filled = width * self.finished / self.total.max(1);
            let bar = format!("{}{}", "#".repeat(filled), "-".repeat(width - filled));
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\r\x1b[2K[{bar}] {}/{} {} elapsed, {}: {label}",
                self.finished,
                self.total,
                clock(self.started.elapsed().as_secs_f64()),
                self.eta()
            );
            let _ = err.flush();
        }
    }

    fn done(
        &mut self,
        backend: crate::catalogue::Backend,
        label: &str,
        cell: &Cell,
        took: Duration,
    ) {
        self.finished += 1;
        self.ran += 1;
        self.spent += took;
        if let Some(i) = self.pending.iter().position(|b| *b == backend) {
            self.pending.remove(i);
        }
        let e = self.by_backend.entry(backend).or_default();
        e.0 += 1;
        e.1 += took.as_secs_f64();
        let detail = match cell.outcome {
            Outcome::Direct | Outcome::Relayed => format!(
                "{} (overlay {}, MPyC {})",
                cell.outcome.as_str(),
                secs(cell.overlay_up_s),
                secs(cell.mpc_wall_s)
            ),
            _ => format!(
                "{}: {}",
                cell.outcome.as_str(),
                cell.reason.as_deref().unwrap_or("")
            ),
        };
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K");
        }
        let _ = writeln!(
            err,
            "[{}/{}] {}: {detail} in {:.1} s; {}",
            self.finished,
            self.total,
            label,
            took.as_secs_f64(),
            self.eta()
        );
    }

    fn finish(&self) {
        if self.ran > 0 {
            crate::say!(
                "ran {} runs in {}",
                self.ran,
                clock(self.started.elapsed().as_secs_f64())
            );
        }
    }
}

fn clock(s: f64) -> String {
    let s = s.round() as u64;
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

fn secs(s: Option<f64>) -> String {
    s.map(|s| format!("{s:.2} s")).unwrap_or_else(|| "-".into())
}

/// Counts of each outcome, for a summary line.
pub fn summary(grid: &Grid) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &grid.cells {
        *counts.entry(c.outcome.as_str()).or_default() += 1;
    }
    let order = ["direct", "relayed", "failed", "error", "pending"];
    order
        .iter()
        .filter_map(|o| counts.get(o).map(|n| format!("{n} {o}")))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new daemon (or Python, or MPyC) version is a new cell: the cache
    /// key includes every version.
    #[test]
    fn the_cache_key_includes_the_versions() {
        let checked = crate::check(&crate::load::ScenarioRef::Bundled("nebula-nat".into()));
        let plan = crate::plan::plan(checked.scenario().expect("valid"));
        let t = Duration::from_secs(20);
        let v = |nebula: &str| {
            BTreeMap::from([
                ("nebula".to_string(), nebula.to_string()),
                ("mpyc".to_string(), "0.11".to_string()),
            ])
        };
        assert_eq!(
            cell_hash(&plan, t, &v("1.10.3")),
            cell_hash(&plan, t, &v("1.10.3"))
        );
        assert_ne!(
            cell_hash(&plan, t, &v("1.10.3")),
            cell_hash(&plan, t, &v("1.6.1"))
        );
        assert_ne!(
            cell_hash(&plan, t, &v("1.10.3")),
            cell_hash(&plan, t, &BTreeMap::new())
        );
    }

    /// The plans of a bundled matrix's variants, by label.
    fn variants(name: &str) -> Vec<(String, Plan)> {
        let checked = crate::check(&crate::load::ScenarioRef::Bundled(name.into()));
        let m = checked.matrix().expect("a matrix");
        m.variants
            .iter()
            .map(|v| (v.label.clone(), crate::plan::plan(&v.scenario)))
            .collect()
    }

    #[test]
    fn cells_share_a_lab_when_only_their_program_differs() {
        use crate::sim::session::lab_key;
        let sweep = variants("mpc-sweep");
        let key = |label: &str| {
            let (_, plan) = sweep.iter().find(|(l, _)| l == label).expect(label);
            lab_key(plan).expect("no faults: shareable")
        };
        // max-chain and bulk on one topology and backend: one lab
        assert_eq!(
            key("backend=nebula,program=max-chain,count=3,placement=far"),
            key("backend=nebula,program=bulk,count=3,placement=far")
        );
        // another placement, count or backend: another lab
        for other in [
            "backend=nebula,program=max-chain,count=3,placement=same",
            "backend=nebula,program=max-chain,count=5,placement=far",
            "backend=wireguard,program=max-chain,count=3,placement=far",
        ] {
            assert_ne!(
                key("backend=nebula,program=bulk,count=3,placement=far"),
                key(other)
            );
        }
        // Every cell of the sweep shares with exactly one other (its other program).
        let keys: Vec<String> = sweep.iter().map(|(_, p)| lab_key(p).unwrap()).collect();
        for (k, (label, _)) in keys.iter().zip(&sweep) {
            let sharing: Vec<&String> = sweep
                .iter()
                .zip(&keys)
                .filter(|(_, o)| *o == k)
                .map(|((l, _), _)| l)
                .collect();
            // its other program; with two or three parties `far` and
            // `world` deal the same regions (ams3, nyc3, sgp1): one lab
            // for all four
            let other = if label.contains("max-chain") {
                label.replace("max-chain", "bulk")
            } else {
                label.replace("bulk", "max-chain")
            };
            assert!(sharing.contains(&&other), "{label}: {sharing:?}");
            let alike = (label.contains("count=2,") || label.contains("count=3,"))
                && (label.contains("placement=far") || label.contains("placement=world"));
            assert_eq!(
                sharing.len(),
                if alike { 4 } else { 2 },
                "{label}: {sharing:?}"
            );
        }
        // connectivity-grid: every cell its own lab
        let grid = variants("connectivity-grid");
        let keys: std::collections::BTreeSet<String> =
            grid.iter().map(|(_, p)| lab_key(p).unwrap()).collect();
        assert_eq!(keys.len(), grid.len());
        // A run with faults changes its lab: never shared.
        let roaming = variants("roaming");
        assert!(roaming.iter().all(|(_, p)| lab_key(p).is_none()));
    }

    #[test]
    fn backends_take_turns() {
        let items = vec!["n1", "n2", "n3", "w1", "w2", "t1", "n4"];
        assert_eq!(
            take_turns(items, |s| s.as_bytes()[0]),
            ["n1", "w1", "t1", "n2", "w2", "n3", "n4"]
        );
        assert_eq!(take_turns(Vec::<u8>::new(), |x| *x), Vec::<u8>::new());
    }

    #[test]
    fn the_runs_of_a_lab_come_together_in_their_order() {
        let keys = [
            Some("a".to_string()),
            Some("b".to_string()),
            Some("a".to_string()),
            None,
            Some("b".to_string()),
        ];
        // run 1 of every variant, then run 2
        let todo: Vec<(usize, usize)> = (1..=2).flat_map(|k| (0..5).map(move |i| (i, k))).collect();
        let groups = schedule(&todo, &keys);
        assert_eq!(
            groups.iter().map(Vec::len).collect::<Vec<_>>(),
            [4, 4, 1, 1],
            "a lab's runs are one group: a, b, then the keyless variant's two runs"
        );
        assert_eq!(
            groups.concat(),
            [
                (0, 1),
                (2, 1),
                (0, 2),
                (2, 2),
                (1, 1),
                (4, 1),
                (1, 2),
                (4, 2),
                (3, 1),
                (3, 2)
            ]
        );
        // without keys (`--fresh-labs`) nothing moves
        assert_eq!(
            schedule(&todo, &[None, None, None, None, None]).concat(),
            todo
        );
    }
}
