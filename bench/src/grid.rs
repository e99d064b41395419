//! Figure 7, `e3 grid`'s own code ([`e3::grid::run`]) on parts of the two
//! bundled grids, once per way of using labs, side by side in one run:
//!
//! - `fresh`: a lab per run, torn down before the next starts (what e3
//!   did before labs were shared: [`Labs::FRESH`], `--fresh-labs`);
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
use std::path::Path;
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

/// A way of using labs.
#[derive(Debug, Clone, Copy)]
struct Mode {
    labs: Labs,
    jobs: usize,
}

impl Mode {
    fn name(&self) -> String {
        match (self.labs == Labs::FRESH, self.jobs) {
            (true, _) => "fresh".into(),
            (false, 1) => "shared".into(),
            (false, n) => format!("shared, {n} jobs"),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Way {
    pub mode: String,
    pub wall_s: Option<Stat>,
    /// Wall time against the `fresh` way's (medians).
    pub vs_fresh: Option<f64>,
    /// Runs done per run of the grid.
    pub runs: usize,
    /// Labs built per run of the grid (runs on a lab of their own).
    pub labs: usize,
    /// Per cell (variant): its outcome in every run of the figure.
    pub outcomes: BTreeMap<String, Vec<String>>,
    /// Per cell: its median MPyC time in every run of the figure.
    pub mpc_wall_s: BTreeMap<String, Vec<Option<f64>>>,
    /// Cells whose outcome differs from the `fresh` way's in some run.
    pub outcome_differs: Vec<String>,
    /// The median over the cells of (MPyC time / the `fresh` way's), over
    /// the cells that succeeded in both.
    pub mpc_vs_fresh: Option<f64>,
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
    let vs: Vec<e3::grid::GridVariant> = m
        .variants
        .iter()
        .filter(|v| only.matches(&v.settings))
        .map(|v| e3::grid::GridVariant {
            label: v.label.clone(),
            settings: v.settings.clone(),
            plan: e3::plan::plan(&v.scenario),
        })
        .collect();
    if vs.is_empty() {
        return Err(Error::GridOnly(format!(
            "no variant of `{}` has {}",
            spec.scenario,
            spec.only.join(" and ")
        )));
    }
    Ok((m, vs))
}

/// Runs every spec `runs` times in every way (`jobs`: the concurrent way's
/// labs at a time; 1 leaves it out).
pub fn measure(
    specs: &[Spec],
    jobs: usize,
    runs: usize,
    timeout: Duration,
    work: &Path,
    log: &dyn Fn(&str),
) -> Result<Figure, Error> {
    let mut modes = vec![
        Mode {
            labs: Labs::FRESH,
            jobs: 1,
        },
        Mode {
            labs: Labs::default(),
            jobs: 1,
        },
    ];
    if jobs > 1 {
        modes.push(Mode {
            labs: Labs::default(),
            jobs,
        });
    }
    let mut grids = Vec::new();
    for (g, spec) in specs.iter().enumerate() {
        let (m, vs) = variants(spec)?;
        let description = m.variants[0].scenario.description.clone();
        let mut ways: Vec<Way> = modes
            .iter()
            .map(|mode| Way {
                mode: mode.name(),
                wall_s: None,
                vs_fresh: None,
                runs: vs.len() * spec.runs,
                labs: labs_of(&vs, mode, spec.runs),
                outcomes: BTreeMap::new(),
                mpc_wall_s: BTreeMap::new(),
                outcome_differs: Vec::new(),
                mpc_vs_fresh: None,
                failures: Vec::new(),
            })
            .collect();
        let mut walls: Vec<Vec<f64>> = vec![Vec::new(); modes.len()];
        for r in 0..runs {
            for k in 0..modes.len() {
                let w = (k + r) % modes.len();
                let mode = modes[w];
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
                let result = e3::grid::run(&m.base, &description, &m.axes, &vs, &opts);
                let took = t.elapsed().as_secs_f64();
                let _ = std::fs::remove_dir_all(&dir);
                if e3::sim::netns::interrupted() {
                    return Err(Error::Lab(e3::sim::Error::Interrupted));
                }
                let grid = match result {
                    Ok(grid) => grid,
                    Err(e) => {
                        ways[w].failures.push(e3::error::one_line(&e));
                        continue;
                    }
                };
                log(&format!("  {took:.1} s"));
                let errors: Vec<String> = grid
                    .cells
                    .iter()
                    .filter(|c| c.outcome == e3::grid::Outcome::Error)
                    .map(|c| format!("{}: {}", c.label, c.reason.as_deref().unwrap_or("")))
                    .collect();
                if !errors.is_empty() {
                    ways[w].failures.extend(errors);
                    continue;
                }
                walls[w].push(took);
                for c in &grid.cells {
                    ways[w]
                        .outcomes
                        .entry(c.label.clone())
                        .or_default()
                        .push(c.outcome.as_str().to_string());
                    ways[w]
                        .mpc_wall_s
                        .entry(c.label.clone())
                        .or_default()
                        .push(c.mpc_wall_s);
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
    if mode.labs == Labs::FRESH {
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

/// Fills in each way's figures against the first (`fresh`) way's.
fn compare(ways: &mut [Way]) {
    let Some((fresh, rest)) = ways.split_first_mut() else {
        return;
    };
    let base = fresh.wall_s.as_ref().map(|s| s.median);
    fresh.vs_fresh = base.map(|_| 1.0);
    for way in rest {
        way.vs_fresh = base
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
        way.mpc_vs_fresh = Stat::of(&ratios).map(|s| crate::stats::round3(s.median));
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
                    w.vs_fresh.map_or("-".into(), |r| format!("×{r}")),
                    w.mpc_vs_fresh.map_or("-".into(), |r| format!("×{r}")),
                    w.outcome_differs.len().to_string(),
                ],
                w.failures.len(),
            ));
            if !w.outcome_differs.is_empty() {
                notes.push(format!(
                    "  {}, {}: outcome differs from fresh labs' in {}",
                    g.grid,
                    w.mode,
                    w.outcome_differs.join(", ")
                ));
            }
        }
    }
    notes.insert(
        0,
        "  MPYC: median over the cells of the MPyC time against fresh labs'; DIFFER: cells whose outcomes differ from fresh labs'".into(),
    );
    section(
        t,
        "7. Grids: `e3 grid`, a lab per run (fresh) against shared labs and concurrent labs",
        &[
            left("GRID", 56),
            left("LABS", 15).gap(2),
            right("RUNS", 4),
            right("BUILT", 5),
            left("WALL", 26).gap(2),
            right("VS FRESH", 8),
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
            vs_fresh: vs,
            runs: 36,
            labs,
            outcomes: BTreeMap::new(),
            mpc_wall_s: BTreeMap::new(),
            outcome_differs: Vec::new(),
            mpc_vs_fresh: mpc,
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
        let fresh = Mode {
            labs: Labs::FRESH,
            jobs: 1,
        };
        let shared = Mode {
            labs: Labs::default(),
            jobs: 1,
        };
        assert_eq!(labs_of(&vs, &fresh, 3), 24);
        assert_eq!(labs_of(&vs, &shared, 3), 4, "one per placement");
        let roaming = variants(&Spec::parse("roaming:backend=nebula").unwrap())
            .unwrap()
            .1;
        assert_eq!(labs_of(&roaming, &shared, 2), 6, "faults: never shared");
    }

    #[test]
    fn ways_are_compared_with_the_fresh_one() {
        let way = |mode: &str, wall: f64, out: &str, mpc: f64| Way {
            mode: mode.into(),
            wall_s: Stat::of(&[wall]),
            vs_fresh: None,
            runs: 1,
            labs: 1,
            outcomes: BTreeMap::from([("c".to_string(), vec![out.to_string()])]),
            mpc_wall_s: BTreeMap::from([("c".to_string(), vec![Some(mpc)])]),
            outcome_differs: Vec::new(),
            mpc_vs_fresh: None,
            failures: Vec::new(),
        };
        let mut ways = [
            way("fresh", 100.0, "direct", 2.0),
            way("shared", 40.0, "direct", 2.2),
            way("shared, 3 jobs", 25.0, "relayed", 3.0),
        ];
        compare(&mut ways);
        assert_eq!(ways[0].vs_fresh, Some(1.0));
        assert_eq!(ways[1].vs_fresh, Some(0.4));
        assert_eq!(ways[2].vs_fresh, Some(0.25));
        assert!(ways[1].outcome_differs.is_empty());
        assert_eq!(ways[2].outcome_differs, ["c"]);
        assert_eq!(ways[1].mpc_vs_fresh, Some(1.1));
        assert_eq!(ways[2].mpc_vs_fresh, Some(1.5));
    }
}
