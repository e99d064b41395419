//! Figure 7, `e3 grid`'s own code ([`e3::grid::run`]) on parts of the two
//! bundled grids, once per way of using labs, side by side in one run:
//!
//! - `fresh`: a lab per run, torn down before the next starts (what e3
//!   did before labs were shared: [`Labs::Fresh`], `--fresh-labs`);
//! - `shared`: the runs that differ only in their program share a lab, a
//!   lab is torn down while the next comes up, the versions are asked once
//!   per backend ([`Labs::default`]);
//! - `shared, N jobs`: the same with `--jobs N` (N labs at a time).
//!
//! Per grid and way: the wall time, the cells' outcomes (which must agree
//! across ways, `direct*`'s race aside), and every cell's median MPyC time,
//! to see what sharing the machine does to the programs' times. The modes
//! take turns within a run (rotated from run to run), so that the machine's
//! drifting load spreads over all of them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use e3::grid::Labs;

use crate::error::Error;
use crate::stats::{ratio, Stat};
use crate::table::{left, right, section, Row};

/// A grid of the figure: a bundled matrix scenario, the `--only` settings
/// that cut it down (none: all of it), and the runs per cell.
#[derive(Debug, Clone)]
pub struct Spec {
    pub scenario: String,
    pub only: Vec<String>,
    pub runs: usize,
}

impl Spec {
    /// `SCENARIO[:KEY=VALUE,KEY=VALUE…][/RUNS]` (`mpc-sweep:count=3/3`).
    pub fn parse(text: &str) -> Result<Spec, Error> {
        let bad = || Error::GridSpec(text.to_string());
        let (rest, runs) = match text.rsplit_once('/') {
            Some((r, n)) => (r, n.parse::<usize>().map_err(|_| bad())?),
            None => (text, 1),
        };
        if runs == 0 || runs > 100 {
            return Err(bad());
        }
        let (scenario, only) = match rest.split_once(':') {
            Some((s, o)) => (
                s,
                o.split(',')
                    .filter(|x| !x.is_empty())
                    .map(str::to_string)
                    .collect(),
            ),
            None => (rest, Vec::new()),
        };
        if scenario.is_empty() {
            return Err(bad());
        }
        Ok(Spec {
            scenario: scenario.to_string(),
            only,
            runs,
        })
    }

    /// `mpc-sweep count=3 placement=same|far, 3 runs` (values of one key
    /// are alternatives).
    fn label(&self) -> String {
        let mut keys: Vec<(&str, Vec<&str>)> = Vec::new();
        for setting in &self.only {
            let (k, v) = setting.split_once('=').unwrap_or((setting, ""));
            match keys.iter_mut().find(|(key, _)| *key == k) {
                Some((_, vs)) => vs.push(v),
                None => keys.push((k, vec![v])),
            }
        }
        let mut l = self.scenario.clone();
        for (k, vs) in keys {
            l += &format!(" {k}={}", vs.join("|"));
        }
        if self.runs > 1 {
            l += &format!(", {} runs", self.runs);
        }
        l
    }
}

/// A cell of a grid run: label, outcome, MPyC time, why it is an `error`.
type CellResult = (String, String, Option<f64>, Option<String>);

/// A way of running the grid.
#[derive(Debug, Clone)]
struct Mode {
    labs: Labs,
    jobs: usize,
    /// Another `e3` binary (an earlier build), run as `e3 grid … --fresh`.
    baseline: Option<PathBuf>,
}

impl Mode {
    fn name(&self) -> String {
        if self.baseline.is_some() {
            return "baseline e3".into();
        }
        match (self.labs == Labs::Fresh, self.jobs) {
            (true, _) => "fresh".into(),
            (false, 1) => "shared".into(),
            (false, n) => format!("shared, {n} jobs"),
        }
    }
}

/// The ways `--grid-ways` names (`baseline`, `fresh`, `shared`, `jobs`), in
/// that order: the first is what the others are compared with.
fn modes(ways: &[String], jobs: usize, baseline: Option<&Path>) -> Result<Vec<Mode>, Error> {
    let mut out = Vec::new();
    for name in ["baseline", "fresh", "shared", "jobs"] {
        if !ways.iter().any(|w| w == name) {
            continue;
        }
        out.push(match name {
            "baseline" => Mode {
                labs: Labs::Fresh,
                jobs: 1,
                baseline: Some(baseline.ok_or(Error::NoGridBaseline)?.to_path_buf()),
            },
            "fresh" => Mode {
                labs: Labs::Fresh,
                jobs: 1,
                baseline: None,
            },
            "shared" => Mode {
                labs: Labs::Shared,
                jobs: 1,
                baseline: None,
            },
            _ => Mode {
                labs: Labs::Shared,
                jobs: jobs.max(2),
                baseline: None,
            },
        });
    }
    if let Some(w) = ways
        .iter()
        .find(|w| !["baseline", "fresh", "shared", "jobs"].contains(&w.as_str()))
    {
        return Err(Error::GridWay(w.clone()));
    }
    if out.is_empty() {
        return Err(Error::GridWay(String::new()));
    }
    Ok(out)
}

/// A grid run of another `e3` binary: its `grid.json` (`--json`), or why
/// it failed.
fn run_baseline(
    e3: &Path,
    spec: &Spec,
    timeout: Duration,
    dir: &Path,
) -> Result<serde_json::Value, String> {
    let mut cmd = std::process::Command::new(e3);
    cmd.arg("grid").arg(&spec.scenario);
    for o in &spec.only {
        cmd.args(["--only", o]);
    }
    let out = cmd
        .args(["--runs", &spec.runs.to_string()])
        .args(["--timeout", &timeout.as_secs().to_string()])
        .arg("--fresh")
        .arg("-o")
        .arg(dir)
        .arg("--json")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run `{}`: {e}", e3.display()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "`{} grid` failed ({}): {}",
            e3.display(),
            out.status,
            stderr.lines().last().unwrap_or("")
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("its grid.json: {e}"))
}

#[derive(Debug, Serialize)]
pub struct Way {
    pub mode: String,
    pub wall_s: Option<Stat>,
    /// Wall time against the first way's (medians): the baseline `e3`'s,
    /// else `fresh`.
    pub vs_base: Option<f64>,
    /// Runs done per run of the grid.
    pub runs: usize,
    /// Labs built per run of the grid (runs on a lab of their own).
    pub labs: usize,
    /// Per cell (variant): its outcome in every run of the figure.
    pub outcomes: BTreeMap<String, Vec<String>>,
    /// Per cell: its median MPyC time in every run of the figure.
    pub mpc_wall_s: BTreeMap<String, Vec<Option<f64>>>,
    /// Cells whose outcome differs from the first way's in some run.
    pub outcome_differs: Vec<String>,
    /// The median over the cells of (MPyC time / the first way's), over
    /// the cells that succeeded in both.
    pub mpc_vs_base: Option<f64>,
    pub failures: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Grid {
    pub grid: String,
    pub cells: usize,
    pub ways: Vec<Way>,
}

#[derive(Debug, Serialize)]
pub struct Figure {
    pub grids: Vec<Grid>,
}

/// The variants of `spec` (a matrix scenario cut by its `--only`).
fn variants(spec: &Spec) -> Result<(e3::CheckedMatrix, Vec<e3::grid::GridVariant>), Error> {
    let checked = e3::check_arg(&spec.scenario);
    let m = match checked.outcome {
        e3::Outcome::Matrix(m) => m,
        _ => return Err(Error::GridSpec(spec.scenario.clone())),
    };
    let only = e3::matrix::Only::parse(&spec.scenario, &spec.only, &m.axes)
        .map_err(|e| Error::GridOnly(e.to_string()))?;
    let vs = e3::grid::GridVariant::all_of(&m, &only);
    if vs.is_empty() {
        return Err(Error::GridOnly(format!(
            "no variant of `{}` has {}",
            spec.scenario,
            spec.only.join(" and ")
        )));
    }
    Ok((m, vs))
}

/// Runs every spec `runs` times in every way of `ways` (`jobs`: the
/// concurrent way's labs at a time; `baseline`: the other `e3`).
#[allow(clippy::too_many_arguments)]
pub fn measure(
    specs: &[Spec],
    ways: &[String],
    jobs: usize,
    baseline: Option<&Path>,
    runs: usize,
    timeout: Duration,
    work: &Path,
    log: &dyn Fn(&str),
) -> Result<Figure, Error> {
    let modes = modes(ways, jobs, baseline)?;
    let mut grids = Vec::new();
    for (g, spec) in specs.iter().enumerate() {
        let (m, vs) = variants(spec)?;
        let description = m.variants[0].scenario.description.clone();
        let mut ways: Vec<Way> = modes
            .iter()
            .map(|mode| Way {
                mode: mode.name(),
                wall_s: None,
                vs_base: None,
                runs: vs.len() * spec.runs,
                labs: labs_of(&vs, mode, spec.runs),
                outcomes: BTreeMap::new(),
                mpc_wall_s: BTreeMap::new(),
                outcome_differs: Vec::new(),
                mpc_vs_base: None,
                failures: Vec::new(),
            })
            .collect();
        let mut walls: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
        for r in 0..runs {
            for k in 0..modes.len() {
                let w = (k + r) % modes.len();
                let mode = &modes[w];
                let dir = work.join(format!("grid-{g}-{r}-{w}"));
                let opts = e3::grid::Options {
                    timeout,
                    fresh: true,
                    dir: dir.clone(),
                    python: None,
                    latency: None,
                    runs: spec.runs,
                    labs: mode.labs,
                    jobs: mode.jobs,
                };
                log(&format!(
                    "{}: {} ({} runs), run {}",
                    spec.label(),
                    mode.name(),
                    vs.len() * spec.runs,
                    r + 1
                ));
                let t = Instant::now();
                let result: Result<Vec<CellResult>, String> = match &mode.baseline {
                    Some(e3) => run_baseline(e3, spec, timeout, &dir).map(|g| {
                        g["cells"]
                            .as_array()
                            .map(|cells| {
                                cells
                                    .iter()
                                    .map(|c| {
                                        (
                                            c["label"].as_str().unwrap_or("").to_string(),
                                            c["outcome"].as_str().unwrap_or("").to_string(),
                                            c["mpc_wall_s"].as_f64(),
                                            c["reason"].as_str().map(str::to_string),
                                        )
                                    })
                                    .collect()
                            })
                            .unwrap_or_default()
                    }),
                    None => e3::grid::run(&m.base, &description, &m.axes, &vs, &opts)
                        .map(|g| {
                            g.cells
                                .iter()
                                .map(|c| {
                                    (
                                        c.label.clone(),
                                        c.outcome.as_str().to_string(),
                                        c.mpc_wall_s,
                                        c.reason.clone(),
                                    )
                                })
                                .collect()
                        })
                        .map_err(|e| e3::error::one_line(&e)),
                };
                let took = t.elapsed().as_secs_f64();
                let _ = std::fs::remove_dir_all(&dir);
                if e3::sim::netns::interrupted() {
                    return Err(Error::Lab(e3::sim::Error::Interrupted));
                }
                let cells = match result {
                    Ok(cells) => cells,
                    Err(e) => {
                        ways[w].failures.push(e);
                        continue;
                    }
                };
                log(&format!("  {took:.1} s"));
                let errors: Vec<String> = cells
                    .iter()
                    .filter(|c| c.1 == e3::grid::Outcome::Error.as_str())
                    .map(|c| format!("{}: {}", c.0, c.3.as_deref().unwrap_or("")))
                    .collect();
                if !errors.is_empty() || cells.len() != vs.len() {
                    ways[w].failures.extend(errors);
                    if cells.len() != vs.len() {
                        ways[w]
                            .failures
                            .push(format!("{} cells, not {}", cells.len(), vs.len()));
                    }
                    continue;
                }
                walls[w].push(took);
                for (label, outcome, mpc, _) in cells {
                    ways[w]
                        .outcomes
                        .entry(label.clone())
                        .or_default()
                        .push(outcome);
                    ways[w].mpc_wall_s.entry(label).or_default().push(mpc);
                }
            }
        }
        for (w, way) in ways.iter_mut().enumerate() {
            way.wall_s = Stat::of(&walls[w]);
        }
        compare(&mut ways);
        grids.push(Grid {
            grid: spec.label(),
            cells: vs.len(),
            ways,
        });
    }
    Ok(Figure { grids })
}

/// How many labs a way builds for one run of the grid (pure): one per run
/// when fresh, else one per group of runs sharing a lab key.
fn labs_of(vs: &[e3::grid::GridVariant], mode: &Mode, runs: usize) -> usize {
    if mode.labs == Labs::Fresh {
        return vs.len() * runs;
    }
    let mut keys: Vec<Option<String>> = Vec::new();
    let mut unshared = 0;
    for v in vs {
        match e3::sim::session::lab_key(&v.plan) {
            Some(k) if !keys.contains(&Some(k.clone())) => keys.push(Some(k)),
            Some(_) => {}
            None => unshared += runs,
        }
    }
    keys.len() + unshared
}

/// Fills in each way's figures against the first way's.
fn compare(ways: &mut [Way]) {
    let Some((fresh, rest)) = ways.split_first_mut() else {
        return;
    };
    let base = fresh.wall_s.as_ref().map(|s| s.median);
    fresh.vs_base = base.map(|_| 1.0);
    for way in rest {
        way.vs_base = base
            .zip(way.wall_s.as_ref())
            .and_then(|(b, s)| ratio(s.median, b));
        way.outcome_differs = way
            .outcomes
            .iter()
            .filter(|(cell, outs)| {
                fresh.outcomes.get(*cell).is_some_and(|f| {
                    f.iter().any(|o| !outs.contains(o)) || outs.iter().any(|o| !f.contains(o))
                })
            })
            .map(|(cell, _)| cell.clone())
            .collect();
        let median = |xs: &[Option<f64>]| {
            let xs: Vec<f64> = xs.iter().flatten().copied().collect();
            Stat::of(&xs).map(|s| s.median)
        };
        let ratios: Vec<f64> = way
            .mpc_wall_s
            .iter()
            .filter_map(|(cell, walls)| {
                let f = median(fresh.mpc_wall_s.get(cell)?)?;
                ratio(median(walls)?, f)
            })
            .collect();
        way.mpc_vs_base = Stat::of(&ratios).map(|s| crate::stats::round3(s.median));
    }
}

/// Section 7 of the table: a row per grid and way.
pub fn table(t: &mut String, f: &Figure) {
    let mut rows: Vec<Row> = Vec::new();
    let mut notes = Vec::new();
    for g in &f.grids {
        for w in &g.ways {
            rows.push((
                vec![
                    g.grid.clone(),
                    w.mode.clone(),
                    w.runs.to_string(),
                    w.labs.to_string(),
                    crate::fmt_stat(&w.wall_s, "s", 1.0, 1),
                    w.vs_base.map_or("-".into(), |r| format!("×{r}")),
                    w.mpc_vs_base.map_or("-".into(), |r| format!("×{r}")),
                    w.outcome_differs.len().to_string(),
                ],
                w.failures.len(),
            ));
            if !w.outcome_differs.is_empty() {
                notes.push(format!(
                    "  {}, {}: outcome differs from the first way's in {}",
                    g.grid,
                    w.mode,
                    w.outcome_differs.join(", ")
                ));
            }
        }
    }
    notes.insert(
        0,
        "  VS FIRST, MPYC: wall time, and the median over the cells of the MPyC time, against the grid's first way; DIFFER: cells whose outcomes differ from the first way's".into(),
    );
    section(
        t,
        "7. Grids: `e3 grid` with a lab per run (baseline e3, fresh), shared labs, concurrent labs",
        &[
            left("GRID", 56),
            left("LABS", 15).gap(2),
            right("RUNS", 4),
            right("BUILT", 5),
            left("WALL", 26).gap(2),
            right("VS FIRST", 8),
            right("MPYC", 6),
            right("DIFFER", 6),
        ],
        &rows,
        &notes,
    );
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A figure for the table's golden file.
    pub fn figure() -> Figure {
        let way = |mode: &str, labs: usize, wall: &[f64], vs: Option<f64>, mpc: Option<f64>| Way {
            mode: mode.into(),
            wall_s: Stat::of(wall),
            vs_base: vs,
            runs: 36,
            labs,
            outcomes: BTreeMap::new(),
            mpc_wall_s: BTreeMap::new(),
            outcome_differs: Vec::new(),
            mpc_vs_base: mpc,
            failures: Vec::new(),
        };
        let mut jobs = way("shared, 3 jobs", 6, &[61.0], Some(0.3), Some(1.4));
        jobs.outcome_differs = vec!["backend=nebula,nat=easy+easy".into()];
        Figure {
            grids: vec![Grid {
                grid: "mpc-sweep count=3 placement=same|far, 3 runs".into(),
                cells: 12,
                ways: vec![
                    way("fresh", 36, &[203.5, 198.0, 210.2], Some(1.0), None),
                    way("shared", 6, &[95.1], Some(0.467), Some(1.02)),
                    jobs,
                ],
            }],
        }
    }

    #[test]
    fn specs_name_a_grid_its_cut_and_its_runs() {
        assert_eq!(
            Spec::parse("connectivity-grid:nat=easy+easy,nat=hard+hard,backend=tinc/2")
                .unwrap()
                .label(),
            "connectivity-grid nat=easy+easy|hard+hard backend=tinc, 2 runs"
        );
        let s = Spec::parse("mpc-sweep:count=3,placement=same/3").unwrap();
        assert_eq!(s.scenario, "mpc-sweep");
        assert_eq!(s.only, ["count=3", "placement=same"]);
        assert_eq!(s.runs, 3);
        let s = Spec::parse("connectivity-grid").unwrap();
        assert!(s.only.is_empty() && s.runs == 1);
        for bad in ["", "x/0", "x/abc", ":count=3", "x/101"] {
            assert!(Spec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sharing_builds_a_lab_per_topology_and_backend() {
        let spec = Spec::parse("mpc-sweep:backend=nebula,count=5").unwrap();
        let (_, vs) = variants(&spec).unwrap();
        // 2 programs × 4 placements
        assert_eq!(vs.len(), 8);
        let ways = |w: &[&str]| {
            modes(
                &w.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                3,
                Some(Path::new("/old/e3")),
            )
            .unwrap()
        };
        let all = ways(&["jobs", "shared", "fresh", "baseline"]);
        assert_eq!(
            all.iter().map(Mode::name).collect::<Vec<_>>(),
            ["baseline e3", "fresh", "shared", "shared, 3 jobs"],
            "the baseline first, whatever the order asked"
        );
        let (fresh, shared) = (&all[1], &all[2]);
        assert!(modes(&["baseline".to_string()], 3, None).is_err());
        assert!(modes(&["fast".to_string()], 3, None).is_err());
        assert_eq!(labs_of(&vs, fresh, 3), 24);
        assert_eq!(labs_of(&vs, &all[0], 3), 24, "the baseline: a lab per run");
        assert_eq!(labs_of(&vs, shared, 3), 4, "one per placement");
        let roaming = variants(&Spec::parse("roaming:backend=nebula").unwrap())
            .unwrap()
            .1;
        assert_eq!(labs_of(&roaming, shared, 2), 6, "faults: never shared");
    }

    #[test]
    fn ways_are_compared_with_the_fresh_one() {
        let way = |mode: &str, wall: f64, out: &str, mpc: f64| Way {
            mode: mode.into(),
            wall_s: Stat::of(&[wall]),
            vs_base: None,
            runs: 1,
            labs: 1,
            outcomes: BTreeMap::from([("c".to_string(), vec![out.to_string()])]),
            mpc_wall_s: BTreeMap::from([("c".to_string(), vec![Some(mpc)])]),
            outcome_differs: Vec::new(),
            mpc_vs_base: None,
            failures: Vec::new(),
        };
        let mut ways = [
            way("fresh", 100.0, "direct", 2.0),
            way("shared", 40.0, "direct", 2.2),
            way("shared, 3 jobs", 25.0, "relayed", 3.0),
        ];
        compare(&mut ways);
        assert_eq!(ways[0].vs_base, Some(1.0));
        assert_eq!(ways[1].vs_base, Some(0.4));
        assert_eq!(ways[2].vs_base, Some(0.25));
        assert!(ways[1].outcome_differs.is_empty());
        assert_eq!(ways[2].outcome_differs, ["c"]);
        assert_eq!(ways[1].mpc_vs_base, Some(1.1));
        assert_eq!(ways[2].mpc_vs_base, Some(1.5));
    }
}
