//! Links the plugin with its symbol versions: acceldv.map declares ACCELDV_1.0, and each
//! exported acceldv function binds to it (`dv.rs`).

fn main() {
    let map = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("acceldv.map");
    println!("cargo:rerun-if-changed={}", map.display());
    println!("cargo:rustc-cdylib-link-arg=-Wl,--version-script={}", map.display());
}
