//! `e3 deploy` and `e3 destroy`: real machines, step by step.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use e3::deploy::{self, Layout};

use super::{load_plan, Error};

pub fn run(
    name: &str,
    dry_run: bool,
    destroy: bool,
    yes: bool,
    ssh_key: Option<PathBuf>,
) -> Result<ExitCode, Error> {
    let plan = load_plan(name)?;
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
        e3::clock::utc_timestamp()
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
    let mut programs: Vec<String> = deploy::missing_programs(&steps, &e3_bin)
        .into_iter()
        .chain(
            deploy::extra_programs(&plan)
                .into_iter()
                .filter(|p| !e3::tools::on_path(p))
                .map(str::to_string),
        )
        .collect();
    programs.dedup();
    if !programs.is_empty() {
        return Err(Error::MissingPrograms { programs });
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    let ssh_key = ssh_key.unwrap_or_else(|| home.join(".ssh/id_ed25519.pub"));
    let missing = deploy::missing_inputs(
        &plan,
        |v| std::env::var_os(v).is_some_and(|x| !x.is_empty()),
        &ssh_key,
    );
    if !missing.is_empty() {
        return Err(Error::MissingInputs { missing });
    }
    if !destroy {
        if let Some(cost) = &cost {
            eprintln!("{}: {cost}", plan.name);
            if !yes {
                if !std::io::stdin().is_terminal() {
                    return Err(Error::Unconfirmed);
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
        scenario: plan.name.clone(),
        terraform: layout.rendered.join("terraform"),
    };
    deploy::run(&steps, &context)?;
    if !destroy {
        println!("results in {}", layout.results.display());
    }
    Ok(ExitCode::SUCCESS)
}
