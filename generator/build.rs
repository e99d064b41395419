// The bundled scenarios and programs are embedded with `include_dir!`,
// which does not tell Cargo about the files it reads: rebuild when they change.
fn main() {
    for dir in ["../scenarios", "../programs", "../terraform", "templates"] {
        println!("cargo:rerun-if-changed={dir}");
    }
}
