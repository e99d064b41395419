//! The `e3` command line: the entry point. The commands are in `cli/`.

mod cli;

use std::process::ExitCode;

use clap::Parser as _;

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
    let cli = cli::Cli::parse();
    match cli::run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            // never a panic on a closed stderr (a lab was torn down first)
            use std::io::Write as _;
            let _ = write!(std::io::stderr(), "{}", e3::error::render(&e));
            ExitCode::from(e.exit_code())
        }
    }
}
