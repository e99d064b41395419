//! The rendered directory's README.md: what this variant is and how to use it.

use minijinja::value::Serde;
use minijinja::{context, Environment, Value};

use crate::plan::Plan;

const TEMPLATE: &str = include_str!("../../templates/README.md.j2");

pub fn render(plan: &Plan) -> String {
    let mut env = Environment::new();
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .expect("default delimiters are valid"),
    );
    env.add_template("README.md", TEMPLATE)
        .expect("the README template is valid");
    let parties: Vec<_> = plan.parties().collect();
    let infra: Vec<_> = plan
        .hosts
        .iter()
        .filter(|h| h.role != crate::plan::Role::Party && h.site.is_none())
        .collect();
    env.get_template("README.md")
        .expect("template was added")
        .render(context! {
            plan => Value::from(Serde(plan)),
            parties => Value::from(Serde(&parties)),
            infra => Value::from(Serde(&infra)),
            sites => Value::from(Serde(&plan.sites)),
            deployed => Value::from(Serde(&plan.hosts.iter().filter(|h| h.deploy).collect::<Vec<_>>())),
            expect_failure => super::vmtest::expected_failure(plan).is_some(),
            cloud_notes => Value::from(
                crate::cloud::cloud(plan)
                    .notes
                    .iter()
                    .map(|n| context! { site => n.site.to_string(), nat => n.nat.as_str(), how => n.how.clone() })
                    .collect::<Vec<_>>()
            ),
        })
        .expect("the README template renders any valid plan")
}
