//! `e3 graph`: the simulated topology as Mermaid or Graphviz DOT. Solid
//! edges are underlay links, dashed edges the overlay's control paths.

use std::fmt::Write as _;

use crate::plan::{Plan, Role};

fn id(name: &str) -> String {
    name.replace('-', "_")
}

fn label(plan: &Plan, name: &str) -> String {
    let h = plan.host(name).expect("graph names come from the plan");
    match h.role {
        Role::Party => format!(
            "{} #{} {}",
            h.name,
            h.index.unwrap_or_default(),
            h.overlay_address.map(|a| a.to_string()).unwrap_or_default()
        ),
        Role::Router | Role::Carrier => format!("{} ({})", h.name, h.nat),
        role => format!("{} ({})", h.name, role.as_str()),
    }
    .trim()
    .to_string()
}

/// Underlay edges: (upstream, downstream). `internet` is the shared segment.
fn edges(plan: &Plan) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for h in &plan.hosts {
        if h.site.is_none() {
            out.push(("internet".to_string(), h.name.to_string()));
        }
    }
    for s in &plan.sites {
        if let Some(c) = &s.carrier {
            out.push(("internet".to_string(), c.to_string()));
            out.push((c.to_string(), s.router.to_string()));
        } else {
            out.push(("internet".to_string(), s.router.to_string()));
        }
        for h in &s.hosts {
            out.push((s.router.to_string(), h.to_string()));
        }
    }
    out
}

pub fn mermaid(plan: &Plan) -> String {
    let mut s = String::from("flowchart TB\n");
    let _ = writeln!(s, "  internet((internet))");
    for h in &plan.hosts {
        if h.site.is_none() {
            let _ = writeln!(s, "  {}[\"{}\"]", id(&h.name), label(plan, &h.name));
        }
    }
    for site in &plan.sites {
        let _ = writeln!(
            s,
            "  subgraph site_{}[\"site {} ({})\"]",
            id(&site.name),
            site.name,
            site.nat
        );
        if let Some(c) = &site.carrier {
            let _ = writeln!(s, "    {}{{\"{}\"}}", id(c), label(plan, c));
        }
        let _ = writeln!(
            s,
            "    {}{{\"{}\"}}",
            id(&site.router),
            label(plan, &site.router)
        );
        for h in &site.hosts {
            let _ = writeln!(s, "    {}[\"{}\"]", id(h), label(plan, h));
        }
        let _ = writeln!(s, "  end");
    }
    for (a, b) in edges(plan) {
        let _ = writeln!(s, "  {} --- {}", id(&a), id(&b));
    }
    if let Some(c) = &plan.connectivity.coordinator {
        for p in plan.parties() {
            let _ = writeln!(s, "  {} -.-> {}", id(&p.name), id(c));
        }
    }
    s
}

pub fn dot(plan: &Plan) -> String {
    let mut s = format!(
        "graph \"{}\" {{\n  rankdir=TB;\n  node [fontname=\"Helvetica\"];\n",
        plan.name
    );
    let _ = writeln!(s, "  internet [shape=ellipse];");
    for h in &plan.hosts {
        if h.site.is_none() {
            let _ = writeln!(
                s,
                "  {} [label=\"{}\", shape=box];",
                id(&h.name),
                label(plan, &h.name)
            );
        }
    }
    for site in &plan.sites {
        let _ = writeln!(
            s,
            "  subgraph cluster_{} {{\n    label=\"site {} ({})\";",
            id(&site.name),
            site.name,
            site.nat
        );
        for r in site.carrier.iter().chain(std::iter::once(&site.router)) {
            let _ = writeln!(
                s,
                "    {} [label=\"{}\", shape=diamond];",
                id(r),
                label(plan, r)
            );
        }
        for h in &site.hosts {
            let _ = writeln!(
                s,
                "    {} [label=\"{}\", shape=box];",
                id(h),
                label(plan, h)
            );
        }
        let _ = writeln!(s, "  }}");
    }
    for (a, b) in edges(plan) {
        let _ = writeln!(s, "  {} -- {};", id(&a), id(&b));
    }
    if let Some(c) = &plan.connectivity.coordinator {
        for p in plan.parties() {
            let _ = writeln!(s, "  {} -- {} [style=dashed];", id(&p.name), id(c));
        }
    }
    s.push_str("}\n");
    s
}
