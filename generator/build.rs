// The bundled scenarios, programs, NixOS modules and Terraform modules are
// embedded with `include_dir!`, which does not tell Cargo about the files it
// reads: rebuild when they change. Cargo scans a directory named here
// recursively, so an added or removed file counts as a change too.
fn main() {
    for dir in [
        "../scenarios",
        "../programs",
        "../modules",
        "../terraform",
        "templates",
    ] {
        println!("cargo:rerun-if-changed={dir}");
    }
}
