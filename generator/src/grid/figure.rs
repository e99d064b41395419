//! The grid as a figure: a self-contained SVG (no fonts, scripts or images
//! from elsewhere) and an HTML page around it with every cell's details.
//!
//! Layout: when the matrix varies the NAT types of two parties (`nat-pairs`,
//! or `nat:` for two parties), each combination of the other dimensions
//! (usually the backend) is one panel whose rows are the first party's NAT
//! type and whose columns are the second's; `nat-pairs` fills the upper
//! triangle. Otherwise one panel: columns are the backends (or the last
//! dimension), rows the combinations of the rest.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::{Cell, Grid, Outcome};

const CELL_W: usize = 100;
/// The widest figure: it fits a 1280-pixel page without scrolling.
const MAX_W: usize = 1280;
const CELL_H: usize = 50;
const MARGIN: usize = 20;
const PANEL_GAP: usize = 36;
const HEADER_H: usize = 30;
const PANEL_TITLE_H: usize = 26;
const PEERS_LEGEND: &str = "a party's public address reached another party";
const PLAINTEXT_LEGEND: &str = "the program crossed the internet in plaintext";
const FONT: &str = "DejaVu Sans, Helvetica, Arial, sans-serif";

/// Fill and text colour of an outcome (readable in grey scale too: the
/// outcome is also written in the cell).
fn colours(o: Outcome) -> (&'static str, &'static str) {
    match o {
        Outcome::Direct => ("#1a9850", "#ffffff"),
        Outcome::Relayed => ("#fdae61", "#000000"),
        Outcome::Failed => ("#d73027", "#ffffff"),
        Outcome::Error => ("#969696", "#000000"),
        Outcome::Pending => ("#f0f0f0", "#555555"),
    }
}

struct Panel {
    title: String,
    rows: Vec<String>,
    cols: Vec<String>,
    /// (row, col) → cell index
    cells: HashMap<(usize, usize), usize>,
}

/// Groups the cells into panels, rows and columns.
fn layout(grid: &Grid) -> (Vec<Panel>, String, String) {
    let axes = &grid.axes;
    let others = |c: &Cell, skip: &str| {
        c.settings
            .iter()
            .filter(|(k, _)| k.as_str() != skip)
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
    };
    let ordered_others = |c: &Cell, skip: &str| {
        // In the matrix's dimension order, not alphabetical.
        let mut o = others(c, skip);
        let pos = |s: &String| {
            axes.dims
                .iter()
                .position(|(k, _)| s.starts_with(&format!("{k}=")))
                .unwrap_or(usize::MAX)
        };
        o.sort_by_key(pos);
        o.join(", ")
    };
    if let (Some((rows, cols)), true) = (&axes.pair_types, axes.nat_parties.len() == 2) {
        let mut panels: Vec<Panel> = Vec::new();
        for (i, c) in grid.cells.iter().enumerate() {
            let title = ordered_others(c, "nat");
            let Some((a, b)) = c.settings.get("nat").and_then(|n| n.split_once('+')) else {
                continue;
            };
            let (Some(r), Some(k)) = (
                rows.iter().position(|x| x == a),
                cols.iter().position(|x| x == b),
            ) else {
                continue;
            };
            let p = match panels.iter().position(|p| p.title == title) {
                Some(p) => p,
                None => {
                    panels.push(Panel {
                        title: title.clone(),
                        rows: rows.clone(),
                        cols: cols.clone(),
                        cells: HashMap::new(),
                    });
                    panels.len() - 1
                }
            };
            panels[p].cells.insert((r, k), i);
        }
        return (
            panels,
            format!("{} (row)", axes.nat_parties[0]),
            format!("{} (column)", axes.nat_parties[1]),
        );
    }
    let col_key = if axes.dims.iter().any(|(k, _)| k == "backend") {
        "backend".to_string()
    } else {
        axes.dims.last().map(|(k, _)| k.clone()).unwrap_or_default()
    };
    let cols: Vec<String> = axes
        .dims
        .iter()
        .find(|(k, _)| *k == col_key)
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let mut panel = Panel {
        title: String::new(),
        rows: Vec::new(),
        cols,
        cells: HashMap::new(),
    };
    for (i, c) in grid.cells.iter().enumerate() {
        let row = ordered_others(c, &col_key);
        let r = match panel.rows.iter().position(|x| *x == row) {
            Some(r) => r,
            None => {
                panel.rows.push(row);
                panel.rows.len() - 1
            }
        };
        if let Some(k) = c
            .settings
            .get(&col_key)
            .and_then(|v| panel.cols.iter().position(|x| x == v))
        {
            panel.cells.insert((r, k), i);
        }
    }
    let row_title = axes
        .dims
        .iter()
        .filter(|(k, _)| *k != col_key)
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    (vec![panel], row_title, col_key)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Rough width of a text in pixels at `size` (no font metrics without the font).
fn text_w(s: &str, size: f64) -> usize {
    (s.chars().count() as f64 * size * 0.6).ceil() as usize
}

fn short(s: Option<f64>) -> String {
    s.map(|s| format!("{s:.2} s")).unwrap_or_else(|| "–".into())
}

/// The second line of a cell: times, or why it failed, briefly.
fn cell_detail(c: &Cell) -> String {
    match c.outcome {
        Outcome::Direct | Outcome::Relayed => {
            let one = |s: Option<f64>| s.map_or_else(|| "–".to_string(), |s| format!("{s:.1}"));
            format!("{} · {} s", one(c.overlay_up_s), one(c.mpc_wall_s))
        }
        Outcome::Failed if c.mpc_wall_s.is_none() => "no overlay".into(),
        Outcome::Failed => format!("MPyC: {:.0} s", c.mpc_wall_s.unwrap_or_default()),
        Outcome::Error => "lab error".into(),
        Outcome::Pending => "not run".into(),
    }
}

pub fn svg(grid: &Grid) -> String {
    let (panels, row_title, col_title) = layout(grid);
    let row_head_w = panels
        .iter()
        .flat_map(|p| p.rows.iter())
        .map(|r| text_w(r, 12.0))
        .max()
        .unwrap_or(0)
        .max(text_w(&row_title, 11.0))
        .max(40)
        + 16;
    let panel_w = row_head_w
        + CELL_W
            * panels
                .iter()
                .map(|p| p.cols.len())
                .max()
                .unwrap_or(1)
                .max(1);
    let panel_h = PANEL_TITLE_H
        + HEADER_H
        + CELL_H
            * panels
                .iter()
                .map(|p| p.rows.len())
                .max()
                .unwrap_or(1)
                .max(1);
    // Two panels side by side where they fit in MAX_W, else one.
    let fit = (MAX_W - 2 * MARGIN + PANEL_GAP) / (panel_w + PANEL_GAP);
    let per_row = panels.len().clamp(1, 2).min(fit.max(1));
    let panel_rows = panels.len().div_ceil(per_row).max(1);
    let title_h = 56;
    let legend_h = 78;
    let markers_w = 20 + text_w(PEERS_LEGEND, 12.0) + 36 + 20 + text_w(PLAINTEXT_LEGEND, 12.0);
    let width = (2 * MARGIN + per_row * panel_w + (per_row - 1) * PANEL_GAP)
        .max(560)
        .max(2 * MARGIN + markers_w);
    let height = title_h + panel_rows * panel_h + (panel_rows - 1) * PANEL_GAP + legend_h + MARGIN;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="{FONT}" role="img" aria-labelledby="grid-title">"#
    );
    let _ = writeln!(
        s,
        r#"<title id="grid-title">{}: connectivity grid</title>"#,
        esc(&grid.scenario)
    );
    let _ = writeln!(
        s,
        r##"<rect width="{width}" height="{height}" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        s,
        r#"<text x="{MARGIN}" y="28" font-size="17" font-weight="bold">{}</text>"#,
        esc(&grid.scenario)
    );
    let _ = writeln!(
        s,
        r##"<text x="{MARGIN}" y="47" font-size="12" fill="#444444">{} cells: {} — e3 {} local NAT lab, {} s bound per phase</text>"##,
        grid.cells.len(),
        esc(&super::summary(grid)),
        esc(&grid.e3_version),
        grid.timeout_s
    );
    for (n, p) in panels.iter().enumerate() {
        let x0 = MARGIN + (n % per_row) * (panel_w + PANEL_GAP);
        let y0 = title_h + (n / per_row) * (panel_h + PANEL_GAP);
        if !p.title.is_empty() {
            let _ = writeln!(
                s,
                r#"<text x="{x0}" y="{}" font-size="14" font-weight="bold">{}</text>"#,
                y0 + 16,
                esc(&p.title)
            );
        }
        let gy = y0 + PANEL_TITLE_H;
        // Corner: what rows and columns are.
        let _ = writeln!(
            s,
            r##"<text x="{x0}" y="{}" font-size="11" fill="#444444">{} →</text>"##,
            gy + 12,
            esc(&col_title)
        );
        let _ = writeln!(
            s,
            r##"<text x="{x0}" y="{}" font-size="11" fill="#444444">{} ↓</text>"##,
            gy + 26,
            esc(&row_title)
        );
        for (k, col) in p.cols.iter().enumerate() {
            let cx = x0 + row_head_w + k * CELL_W + CELL_W / 2;
            let _ = writeln!(
                s,
                r#"<text x="{cx}" y="{}" font-size="12" font-weight="bold" text-anchor="middle">{}</text>"#,
                gy + 20,
                esc(col)
            );
        }
        for (r, row) in p.rows.iter().enumerate() {
            let ry = gy + HEADER_H + r * CELL_H;
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{}" font-size="12" font-weight="bold" text-anchor="end">{}</text>"#,
                x0 + row_head_w - 10,
                ry + CELL_H / 2 + 4,
                esc(row)
            );
            for k in 0..p.cols.len() {
                let cx = x0 + row_head_w + k * CELL_W;
                let Some(&i) = p.cells.get(&(r, k)) else {
                    continue;
                };
                let c = &grid.cells[i];
                let (fill, ink) = colours(c.outcome);
                let tip = match &c.reason {
                    Some(r) => format!("{}: {} — {r}", c.variant, c.outcome.as_str()),
                    None => format!(
                        "{}: {}; {}",
                        c.variant,
                        c.outcome.as_str(),
                        c.routes.join("; ")
                    ),
                };
                let _ = writeln!(s, r#"<g><title>{}</title>"#, esc(&tip));
                let _ = writeln!(
                    s,
                    r##"<rect x="{}" y="{}" width="{}" height="{}" rx="3" fill="{fill}" stroke="#ffffff" stroke-width="2"/>"##,
                    cx, ry, CELL_W, CELL_H
                );
                let _ = writeln!(
                    s,
                    r#"<text x="{}" y="{}" font-size="13" font-weight="bold" text-anchor="middle" fill="{ink}">{}</text>"#,
                    cx + CELL_W / 2,
                    ry + 21,
                    c.outcome.as_str()
                );
                let _ = writeln!(
                    s,
                    r#"<text x="{}" y="{}" font-size="10" text-anchor="middle" fill="{ink}">{}</text>"#,
                    cx + CELL_W / 2,
                    ry + 38,
                    esc(&cell_detail(c))
                );
                if c.peers_learn_addresses() == Some(true) {
                    // peers learn each other's public addresses
                    let _ = writeln!(
                        s,
                        r##"<circle cx="{}" cy="{}" r="5" fill="#000000" stroke="#ffffff" stroke-width="1.5"/>"##,
                        cx + CELL_W - 10,
                        ry + 10
                    );
                }
                if c.wan.is_some_and(|w| w.mpyc_plaintext) {
                    // the program's traffic crossed the internet in the clear
                    let _ = writeln!(
                        s,
                        r##"<rect x="{}" y="{}" width="10" height="10" fill="#ffffff" stroke="#000000" stroke-width="1.5"/>"##,
                        cx + 5,
                        ry + 5
                    );
                }
                let _ = writeln!(s, "</g>");
            }
        }
    }
    // Legend.
    let ly = height - legend_h - MARGIN / 2 + 14;
    let mut lx = MARGIN;
    for o in [
        Outcome::Direct,
        Outcome::Relayed,
        Outcome::Failed,
        Outcome::Error,
        Outcome::Pending,
    ] {
        let (fill, _) = colours(o);
        let _ = writeln!(
            s,
            r##"<rect x="{lx}" y="{ly}" width="14" height="14" rx="2" fill="{fill}" stroke="#888888" stroke-width="0.5"/>"##
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" font-size="12">{}</text>"#,
            lx + 20,
            ly + 12,
            o.as_str()
        );
        lx += 36 + text_w(o.as_str(), 12.0);
    }
    let (my, mut lx) = (ly + 22, MARGIN);
    let _ = writeln!(
        s,
        r##"<circle cx="{}" cy="{}" r="5" fill="#000000" stroke="#888888" stroke-width="0.5"/>"##,
        lx + 7,
        my + 7
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" font-size="12">{}</text>"#,
        lx + 20,
        my + 12,
        esc(PEERS_LEGEND)
    );
    lx += 36 + text_w(PEERS_LEGEND, 12.0);
    let _ = writeln!(
        s,
        r##"<rect x="{}" y="{}" width="10" height="10" fill="#ffffff" stroke="#000000" stroke-width="1.5"/>"##,
        lx + 2,
        my + 2
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" font-size="12">{PLAINTEXT_LEGEND}</text>"#,
        lx + 20,
        my + 12
    );
    let _ = writeln!(
        s,
        r##"<text x="{MARGIN}" y="{}" font-size="11" fill="#444444">In each cell: overlay up · MPyC wall time (seconds). direct: every pair went peer to peer; relayed: some pair went through a relay.</text>"##,
        ly + 56
    );
    s.push_str("</svg>\n");
    s
}

/// A standalone page: the figure and a table of every cell.
pub fn html(grid: &Grid, svg: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">"
    );
    let _ = writeln!(s, "<title>{} — e3 grid</title>", esc(&grid.scenario));
    let _ = writeln!(
        s,
        "<style>\nbody {{ font-family: {FONT}; margin: 2em; color: #222; }}\ntable {{ border-collapse: collapse; font-size: 13px; }}\nth, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }}\nth {{ background: #f4f4f4; }}\ntd.num {{ text-align: right; font-variant-numeric: tabular-nums; }}\ncode {{ font-size: 12px; }}\n.direct {{ background: #1a9850; color: #fff; }}\n.relayed {{ background: #fdae61; }}\n.failed {{ background: #d73027; color: #fff; }}\n.error {{ background: #969696; }}\n.pending {{ background: #f0f0f0; }}\n</style>\n</head>\n<body>"
    );
    let _ = writeln!(s, "<h1>{}</h1>", esc(&grid.scenario));
    if !grid.description.is_empty() {
        let _ = writeln!(s, "<p>{}</p>", esc(&grid.description));
    }
    let _ = writeln!(s, "<p>{} cells: {}. Each cell ran in e3 {}'s local NAT lab with a {} s bound per phase; re-run with <code>e3 grid {}</code>.</p>", grid.cells.len(), esc(&super::summary(grid)), esc(&grid.e3_version), grid.timeout_s, esc(&grid.scenario));
    s.push_str(svg);
    let _ = writeln!(s, "<h2>Cells</h2>\n<table>\n<tr><th>variant</th><th>outcome</th><th>overlay up</th><th>MPyC</th><th>result</th><th>routes</th><th>addresses learnt by peers</th><th>plaintext on the internet</th><th>wire bytes per payload byte</th><th>reason</th><th>cached</th></tr>");
    for c in &grid.cells {
        let result = c.result.as_ref().map(|r| r.to_string()).unwrap_or_default();
        let learnt: Vec<String> = c
            .exposure
            .iter()
            .map(|(party, e)| {
                let mut by: Vec<&str> = e.peers.iter().map(String::as_str).collect();
                by.extend(e.told.iter().flatten().map(String::as_str));
                by.sort_unstable();
                by.dedup();
                format!(
                    "{party}: {}",
                    if by.is_empty() {
                        "-".into()
                    } else {
                        by.join(", ")
                    }
                )
            })
            .collect();
        let _ = writeln!(
            s,
            "<tr><td><code>{}</code></td><td class=\"{o}\">{o}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(&c.variant),
            short(c.overlay_up_s),
            short(c.mpc_wall_s),
            esc(&result),
            esc(&c.routes.join("; ")),
            esc(&learnt.join("; ")),
            match c.wan {
                Some(w) if w.mpyc_plaintext => format!("yes ({} packets)", w.mpyc_plaintext_packets),
                Some(_) => "no".into(),
                None => String::new(),
            },
            c.wire.and_then(|w| w.ratio).map(|r| format!("{r:.2}")).unwrap_or_default(),
            esc(c.reason.as_deref().unwrap_or("")),
            if c.cached { "yes" } else { "" },
            o = c.outcome.as_str(),
        );
    }
    let _ = writeln!(s, "</table>\n</body>\n</html>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(outcome: &str, overlay: Option<f64>, mpc: Option<f64>) -> Cell {
        serde_json::from_value(serde_json::json!({
            "variant": "g@backend=tailscale,nat=easyaf+cgnat", "label": "x", "settings": {},
            "hash": "", "outcome": outcome, "overlay_up_s": overlay, "mpc_wall_s": mpc,
            "result": null, "routes": [], "reason": null, "duration_s": 1.0,
        }))
        .expect("a cell")
    }

    #[test]
    fn every_cells_labels_fit_inside_it() {
        let cells = [
            cell("direct", Some(10.95), Some(12.34)),
            cell("relayed", Some(100.0), Some(100.0)),
            cell("failed", None, Some(120.0)),
            cell("failed", None, None),
            cell("error", None, None),
            cell("pending", None, None),
        ];
        for c in &cells {
            let detail = cell_detail(c);
            assert!(text_w(&detail, 10.0) + 4 <= CELL_W, "{detail:?} overflows");
            assert!(text_w(c.outcome.as_str(), 13.0) + 4 <= CELL_W);
        }
    }
}
