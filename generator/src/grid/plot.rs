//! The grid as a plot, for a matrix with an ordered axis (`count`,
//! `placement`, `loss`): MPyC wall time (median of the runs, bars from the
//! fastest to the slowest) against that axis, one line per backend, one
//! panel per combination of the other varied settings. A self-contained SVG
//! (no fonts, scripts or images from elsewhere) and an HTML page with the
//! table of every sample and CSV/JSON downloads of them as `data:` URLs.

use std::fmt::Write as _;

use super::{Cell, Grid, Outcome};

/// Axes a plot can have, in order of preference.
pub const ORDERED: &[&str] = &["count", "placement", "loss"];

const FONT: &str = "DejaVu Sans, Helvetica, Arial, sans-serif";
const PANEL_W: f64 = 300.0;
const PANEL_H: f64 = 215.0;
const LEFT: f64 = 50.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 26.0;
const BOTTOM: f64 = 44.0;
const GAP: f64 = 18.0;
const MARGIN: f64 = 16.0;
/// Colour-blind safe (Okabe–Ito), and a marker shape each, so the lines stay
/// apart in grey scale too.
const COLOURS: &[&str] = &[
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
];
const MARKERS: &[&str] = &["circle", "square", "triangle", "diamond"];

/// The x axis: the first of [`ORDERED`] the grid varies with more than one
/// value among its cells, else the first it has at all.
pub fn x_axis(grid: &Grid) -> Option<String> {
    let present: Vec<&str> = ORDERED
        .iter()
        .copied()
        .filter(|k| grid.axes.dims.iter().any(|(d, _)| d == k))
        .collect();
    present
        .iter()
        .find(|k| distinct(grid, k).len() > 1)
        .or(present.first())
        .map(|k| k.to_string())
}

/// The values of `key` among the grid's cells, in the matrix's order.
fn distinct(grid: &Grid, key: &str) -> Vec<String> {
    let order = grid
        .axes
        .dims
        .iter()
        .find(|(d, _)| d == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    order
        .into_iter()
        .filter(|v| grid.cells.iter().any(|c| c.settings.get(key) == Some(v)))
        .collect()
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn axis_title(key: &str) -> &'static str {
    match key {
        "count" => "parties (count)",
        "placement" => "placement of the parties",
        "loss" => "packet loss (%)",
        _ => "",
    }
}

/// A numeric position for every value, when all are numbers (`2`, `2%`).
fn numeric(values: &[String]) -> Option<Vec<f64>> {
    values
        .iter()
        .map(|v| v.trim_end_matches('%').parse::<f64>().ok())
        .collect()
}

/// A "nice" upper bound and tick step for 0..max.
fn ticks(max: f64) -> (f64, f64) {
    let max = if max > 0.0 { max } else { 1.0 };
    let raw = max / 4.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    ((max / step).ceil() * step, step)
}

fn fmt_tick(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        let s = format!("{v:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

fn marker(shape: &str, x: f64, y: f64, fill: &str) -> String {
    match shape {
        "square" => format!(
            r##"<rect x="{:.1}" y="{:.1}" width="7" height="7" fill="{fill}"/>"##,
            x - 3.5,
            y - 3.5
        ),
        "triangle" => format!(
            r##"<path d="M{:.1} {:.1} L{:.1} {:.1} L{:.1} {:.1} Z" fill="{fill}"/>"##,
            x,
            y - 4.5,
            x - 4.2,
            y + 3.2,
            x + 4.2,
            y + 3.2
        ),
        "diamond" => format!(
            r##"<path d="M{:.1} {:.1} L{:.1} {:.1} L{:.1} {:.1} L{:.1} {:.1} Z" fill="{fill}"/>"##,
            x,
            y - 4.8,
            x + 4.2,
            y,
            x,
            y + 4.8,
            x - 4.2,
            y
        ),
        _ => format!(r##"<circle cx="{x:.1}" cy="{y:.1}" r="3.8" fill="{fill}"/>"##),
    }
}

/// The other varied settings of a cell (its panel), in matrix order.
fn panel_of(grid: &Grid, c: &Cell, skip: &[&str]) -> String {
    grid.axes
        .dims
        .iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()) && distinct(grid, k).len() > 1)
        .filter_map(|(k, _)| c.settings.get(k).map(|v| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The plot, or `None` when the matrix has no ordered axis.
pub fn svg(grid: &Grid) -> Option<String> {
    let x_key = x_axis(grid)?;
    let xs = distinct(grid, &x_key);
    let backends: Vec<String> = if grid.axes.dims.iter().any(|(k, _)| k == "backend") {
        distinct(grid, "backend")
    } else {
        vec![String::new()]
    };
    let skip = [x_key.as_str(), "backend"];
    let mut panels: Vec<String> = Vec::new();
    for c in &grid.cells {
        let p = panel_of(grid, c, &skip);
        if !panels.contains(&p) {
            panels.push(p);
        }
    }
    let per_row = if panels.len() > 1 { 2 } else { 1 };
    let rows = panels.len().div_ceil(per_row);
    let head = 86.0;
    let width = (2.0 * MARGIN + per_row as f64 * PANEL_W + (per_row as f64 - 1.0) * GAP).max(480.0);
    // Settings every plotted cell shares, said once under the title.
    let fixed: Vec<String> = grid
        .axes
        .dims
        .iter()
        .filter(|(k, _)| *k != x_key && distinct(grid, k).len() == 1)
        .map(|(k, _)| format!("{k}={}", distinct(grid, k)[0]))
        .collect();
    let height = head + rows as f64 * PANEL_H + (rows as f64 - 1.0) * GAP + MARGIN;
    let positions = numeric(&xs);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="{FONT}" role="img" aria-labelledby="plot-title">"#
    );
    let _ = writeln!(
        s,
        r#"<title id="plot-title">{}: MPyC wall time against {x_key}</title>"#,
        esc(&grid.scenario)
    );
    let _ = writeln!(
        s,
        r##"<rect width="{width:.0}" height="{height:.0}" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        s,
        r#"<text x="{MARGIN}" y="22" font-size="16" font-weight="bold">{}</text>"#,
        esc(&grid.scenario)
    );
    let _ = writeln!(
        s,
        r##"<text x="{MARGIN}" y="40" font-size="12" fill="#333333">MPyC wall time: median of {} run{} per cell; bars: fastest to slowest</text>"##,
        grid.runs,
        if grid.runs == 1 { "" } else { "s" },
    );
    let _ = writeln!(
        s,
        r##"<text x="{MARGIN}" y="56" font-size="12" fill="#333333">e3 {} local lab{}{}</text>"##,
        esc(&grid.e3_version),
        if fixed.is_empty() {
            ""
        } else {
            "; all cells: "
        },
        esc(&fixed.join(", "))
    );
    let failures = grid.cells.iter().any(|c| {
        c.outcome != Outcome::Pending
            && !c
                .samples
                .iter()
                .any(|r| matches!(r.outcome, Outcome::Direct | Outcome::Relayed))
    });
    // Legend: one entry per backend.
    let mut lx = MARGIN;
    for (b, name) in backends.iter().enumerate() {
        let colour = COLOURS[b % COLOURS.len()];
        let shape = MARKERS[b % MARKERS.len()];
        let _ = writeln!(
            s,
            r#"<line x1="{lx}" y1="72" x2="{:.0}" y2="72" stroke="{colour}" stroke-width="2"/>{}"#,
            lx + 22.0,
            marker(shape, lx + 11.0, 72.0, colour)
        );
        let label = if name.is_empty() { "all" } else { name };
        let _ = writeln!(
            s,
            r#"<text x="{:.0}" y="76" font-size="12">{}</text>"#,
            lx + 27.0,
            esc(label)
        );
        lx += 40.0 + label.chars().count() as f64 * 7.2;
    }
    if failures {
        let _ = writeln!(
            s,
            r##"<text x="{:.0}" y="76" font-size="12" fill="#333333">× no successful run</text>"##,
            lx
        );
    }
    for (n, title) in panels.iter().enumerate() {
        let x0 = MARGIN + (n % per_row) as f64 * (PANEL_W + GAP);
        let y0 = head + (n / per_row) as f64 * (PANEL_H + GAP);
        let (px, py) = (x0 + LEFT, y0 + TOP);
        let (pw, ph) = (PANEL_W - LEFT - RIGHT, PANEL_H - TOP - BOTTOM);
        let cells: Vec<&Cell> = grid
            .cells
            .iter()
            .filter(|c| &panel_of(grid, c, &skip) == title)
            .collect();
        let top = cells
            .iter()
            .filter_map(|c| c.mpc_wall_s_max.or(c.mpc_wall_s))
            .fold(0.0f64, f64::max);
        let (ymax, step) = ticks(top);
        let y_of = |v: f64| py + ph - v / ymax * ph;
        let x_of = |i: usize| -> f64 {
            match &positions {
                Some(p) if p.len() > 1 => {
                    let (lo, hi) = (p[0].min(p[p.len() - 1]), p[0].max(p[p.len() - 1]));
                    let span = if hi > lo { hi - lo } else { 1.0 };
                    px + 14.0 + (p[i] - lo) / span * (pw - 28.0)
                }
                _ => px + (i as f64 + 0.5) * pw / xs.len().max(1) as f64,
            }
        };
        let _ = writeln!(
            s,
            r#"<text x="{x0:.0}" y="{:.0}" font-size="13" font-weight="bold">{}</text>"#,
            y0 + 15.0,
            esc(title)
        );
        let _ = writeln!(
            s,
            r##"<rect x="{px:.1}" y="{py:.1}" width="{pw:.1}" height="{ph:.1}" fill="none" stroke="#888888" stroke-width="0.8"/>"##
        );
        let mut t = 0.0;
        while t <= ymax + 1e-9 {
            let y = y_of(t);
            let _ = writeln!(
                s,
                r##"<line x1="{px:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e4e4e4" stroke-width="0.8"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
                px + pw,
                px - 5.0,
                y + 4.0,
                fmt_tick(t)
            );
            t += step;
        }
        for (i, v) in xs.iter().enumerate() {
            let x = x_of(i);
            let _ = writeln!(
                s,
                r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#888888" stroke-width="0.8"/><text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"##,
                py + ph,
                py + ph + 4.0,
                py + ph + 16.0,
                esc(v)
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"#,
            px + pw / 2.0,
            py + ph + 32.0,
            axis_title(&x_key)
        );
        let _ = writeln!(
            s,
            r#"<text transform="translate({:.1} {:.1}) rotate(-90)" font-size="11" text-anchor="middle">MPyC wall time (s)</text>"#,
            x0 + 12.0,
            py + ph / 2.0
        );
        for (b, backend) in backends.iter().enumerate() {
            let colour = COLOURS[b % COLOURS.len()];
            let shape = MARKERS[b % MARKERS.len()];
            let dodge = (b as f64 - (backends.len() as f64 - 1.0) / 2.0) * 5.0;
            let mut line: Vec<(f64, f64)> = Vec::new();
            for (i, v) in xs.iter().enumerate() {
                let Some(c) = cells.iter().find(|c| {
                    c.settings.get(&x_key) == Some(v)
                        && (backend.is_empty() || c.settings.get("backend") == Some(backend))
                }) else {
                    continue;
                };
                let x = x_of(i) + dodge;
                let ok = c
                    .samples
                    .iter()
                    .any(|r| matches!(r.outcome, Outcome::Direct | Outcome::Relayed));
                if !ok {
                    if c.outcome != Outcome::Pending {
                        let _ = writeln!(
                            s,
                            r#"<g><title>{}: {}</title><text x="{x:.1}" y="{:.1}" font-size="13" text-anchor="middle" fill="{colour}">×</text></g>"#,
                            esc(&c.variant),
                            c.outcome.as_str(),
                            py + ph - 4.0
                        );
                    }
                    continue;
                }
                let Some(m) = c.mpc_wall_s else { continue };
                let (lo, hi) = (c.mpc_wall_s_min.unwrap_or(m), c.mpc_wall_s_max.unwrap_or(m));
                let _ = writeln!(
                    s,
                    r#"<g><title>{}: median {m:.2} s, {lo:.2}–{hi:.2} s over {} run(s)</title><line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="{colour}" stroke-width="1.2"/><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="1.2"/><line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="1.2"/>{}</g>"#,
                    esc(&c.variant),
                    c.samples.len(),
                    y_of(lo),
                    y_of(hi),
                    x - 3.0,
                    y_of(lo),
                    x + 3.0,
                    y_of(lo),
                    x - 3.0,
                    y_of(hi),
                    x + 3.0,
                    y_of(hi),
                    marker(shape, x, y_of(m), colour)
                );
                line.push((x, y_of(m)));
            }
            if line.len() > 1 {
                let points = line
                    .iter()
                    .map(|(x, y)| format!("{x:.1},{y:.1}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                let _ = writeln!(
                    s,
                    r#"<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.6"/>"#
                );
            }
        }
    }
    s.push_str("</svg>\n");
    Some(s)
}

/// One row per sample: `(variant, settings in matrix order, sample)`.
fn sample_rows(grid: &Grid) -> Vec<(&Cell, Vec<String>, &super::Sample)> {
    let mut rows = Vec::new();
    for c in &grid.cells {
        let settings: Vec<String> = grid
            .axes
            .dims
            .iter()
            .map(|(k, _)| c.settings.get(k).cloned().unwrap_or_default())
            .collect();
        for r in &c.samples {
            rows.push((c, settings.clone(), r));
        }
    }
    rows
}

fn num(v: Option<f64>) -> String {
    v.map(|v| format!("{v}")).unwrap_or_default()
}

/// Every sample as CSV (RFC 4180 quoting where needed).
pub fn csv(grid: &Grid) -> String {
    let quote = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out = String::from("variant");
    for (k, _) in &grid.axes.dims {
        out.push(',');
        out.push_str(&quote(k));
    }
    out.push_str(",run,outcome,mpc_wall_s,overlay_up_s,duration_s,cached\n");
    for (c, settings, r) in sample_rows(grid) {
        out.push_str(&quote(&c.variant));
        for v in settings {
            out.push(',');
            out.push_str(&quote(&v));
        }
        let _ = writeln!(
            out,
            ",{},{},{},{},{},{}",
            r.run,
            r.outcome.as_str(),
            num(r.mpc_wall_s),
            num(r.overlay_up_s),
            r.duration_s,
            r.cached
        );
    }
    out
}

/// Every sample as JSON: a list of objects.
pub fn samples_json(grid: &Grid) -> String {
    let rows: Vec<serde_json::Value> = sample_rows(grid)
        .into_iter()
        .map(|(c, _, r)| {
            serde_json::json!({
                "variant": c.variant,
                "settings": c.settings,
                "run": r.run,
                "outcome": r.outcome,
                "mpc_wall_s": r.mpc_wall_s,
                "overlay_up_s": r.overlay_up_s,
                "duration_s": r.duration_s,
                "cached": r.cached,
            })
        })
        .collect();
    serde_json::to_string_pretty(&rows).unwrap_or_default() + "\n"
}

/// `data:` URL of a text (percent-encoded: no script, no external asset).
fn data_url(mime: &str, text: &str) -> String {
    let mut out = format!("data:{mime};charset=utf-8,");
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A standalone page: the plot, downloads and the table of every sample.
pub fn html(grid: &Grid, svg: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{} — e3 plot</title>",
        esc(&grid.scenario)
    );
    let _ = writeln!(
        s,
        "<style>\nbody {{ font-family: {FONT}; margin: 2em; color: #222; }}\ntable {{ border-collapse: collapse; font-size: 13px; }}\nth, td {{ border: 1px solid #ccc; padding: 3px 7px; text-align: left; }}\nth {{ background: #f4f4f4; }}\ntd.num {{ text-align: right; font-variant-numeric: tabular-nums; }}\n</style>\n</head>\n<body>"
    );
    let _ = writeln!(s, "<h1>{}</h1>", esc(&grid.scenario));
    if !grid.description.is_empty() {
        let _ = writeln!(s, "<p>{}</p>", esc(&grid.description));
    }
    let rows = sample_rows(grid);
    let _ = writeln!(
        s,
        "<p>{} cells, {} samples ({} run{} per cell) in e3 {}'s local lab; re-run with <code>e3 grid {} --runs {}</code>.</p>",
        grid.cells.len(),
        rows.len(),
        grid.runs,
        if grid.runs == 1 { "" } else { "s" },
        esc(&grid.e3_version),
        esc(&grid.scenario),
        grid.runs
    );
    s.push_str(svg);
    let _ = writeln!(
        s,
        "<p>Download every sample: <a download=\"{0}-samples.csv\" href=\"{1}\">CSV</a> · <a download=\"{0}-samples.json\" href=\"{2}\">JSON</a></p>",
        esc(&grid.scenario),
        data_url("text/csv", &csv(grid)),
        data_url("application/json", &samples_json(grid))
    );
    let _ = write!(s, "<h2>Samples</h2>\n<table>\n<tr><th>variant</th>");
    for (k, _) in &grid.axes.dims {
        let _ = write!(s, "<th>{}</th>", esc(k));
    }
    let _ = writeln!(s, "<th>run</th><th>outcome</th><th>MPyC (s)</th><th>overlay up (s)</th><th>lab (s)</th><th>cached</th></tr>");
    for (c, settings, r) in rows {
        let _ = write!(s, "<tr><td><code>{}</code></td>", esc(&c.variant));
        for v in settings {
            let _ = write!(s, "<td>{}</td>", esc(&v));
        }
        let _ = writeln!(
            s,
            "<td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
            r.run,
            r.outcome.as_str(),
            num(r.mpc_wall_s),
            num(r.overlay_up_s),
            r.duration_s,
            if r.cached { "yes" } else { "" }
        );
    }
    let _ = writeln!(s, "</table>\n</body>\n</html>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::{PairRtt, Sample};
    use std::collections::BTreeMap;

    fn cell(backend: &str, count: &str, walls: &[f64]) -> Cell {
        let samples: Vec<Sample> = walls
            .iter()
            .enumerate()
            .map(|(k, w)| Sample {
                run: k + 1,
                outcome: Outcome::Direct,
                cached: false,
                lab_run: 1,
                rtt_lab_run: 1,
                overlay_up_s: Some(0.5),
                mpc_wall_s: Some(*w),
                duration_s: 3.0,
                result: None,
                routes: Vec::new(),
                reason: None,
                rtt: Vec::<PairRtt>::new(),
                wire: None,
            })
            .collect();
        let (m, lo, hi) = crate::grid::stats(walls).unwrap();
        Cell {
            variant: format!("g@backend={backend},count={count}"),
            label: format!("backend={backend},count={count}"),
            settings: BTreeMap::from([
                ("backend".to_string(), backend.to_string()),
                ("count".to_string(), count.to_string()),
            ]),
            hash: String::new(),
            outcome: Outcome::Direct,
            cached: false,
            lab_run: 1,
            rtt_lab_run: 1,
            overlay_up_s: Some(0.5),
            mpc_wall_s: Some(m),
            result: None,
            routes: Vec::new(),
            reason: None,
            duration_s: 9.0,
            versions: BTreeMap::new(),
            latency: None,
            rtt: Vec::new(),
            faults: Vec::new(),
            exposure: BTreeMap::new(),
            wan: None,
            wire: None,
            overlay_up_s_min: Some(0.5),
            overlay_up_s_max: Some(0.5),
            mpc_wall_s_min: Some(lo),
            mpc_wall_s_max: Some(hi),
            samples,
        }
    }

    fn grid(cells: Vec<Cell>) -> Grid {
        Grid {
            scenario: "g".into(),
            description: String::new(),
            e3_version: "0".into(),
            timeout_s: 20,
            runs: 3,
            jobs: 1,
            axes: crate::matrix::Axes {
                dims: vec![
                    ("backend".into(), vec!["nebula".into(), "direct".into()]),
                    ("count".into(), vec!["2".into(), "8".into()]),
                ],
                ..Default::default()
            },
            cells,
        }
    }

    #[test]
    fn medians_min_and_max() {
        assert_eq!(crate::grid::stats(&[3.0, 1.0, 2.0]), Some((2.0, 1.0, 3.0)));
        assert_eq!(crate::grid::stats(&[4.0, 1.0]), Some((2.5, 1.0, 4.0)));
        assert_eq!(crate::grid::stats(&[]), None);
    }

    #[test]
    fn one_line_per_backend_with_bars_and_a_sample_table() {
        let g = grid(vec![
            cell("nebula", "2", &[1.0, 1.2, 1.1]),
            cell("nebula", "8", &[4.0, 5.0, 6.0]),
            cell("direct", "2", &[0.9, 1.0, 1.1]),
            cell("direct", "8", &[3.0, 3.5, 3.1]),
        ]);
        assert_eq!(x_axis(&g).as_deref(), Some("count"));
        let svg = svg(&g).unwrap();
        assert_eq!(svg.matches("<polyline").count(), 2, "{svg}");
        assert!(
            svg.contains("median 5.00 s, 4.00–6.00 s over 3 run(s)"),
            "{svg}"
        );
        assert!(svg.contains("parties (count)") && svg.contains("MPyC wall time (s)"));
        assert!(!svg.contains("href") && !svg.contains("<script"));
        let html = html(&g, &svg);
        assert!(html.contains(&svg));
        assert_eq!(html.matches("<td class=\"num\">").count(), 12 * 4);
        let csv = csv(&g);
        assert_eq!(csv.lines().count(), 13);
        assert!(csv.starts_with("variant,backend,count,run,outcome,mpc_wall_s,"));
        assert!(html.contains("data:text/csv;charset=utf-8,variant%2Cbackend"));
        let json: serde_json::Value = serde_json::from_str(&samples_json(&g)).unwrap();
        assert_eq!(json.as_array().unwrap().len(), 12);
    }

    #[test]
    fn no_plot_without_an_ordered_axis() {
        let mut g = grid(vec![cell("nebula", "2", &[1.0])]);
        g.axes.dims.truncate(1);
        assert!(svg(&g).is_none());
    }
}
