//! Compiles the header probe: a C table of the real headers' ABI values for
//! `tests/uapi_vs_kernel_headers.rs`.

fn main() {
    println!("cargo:rerun-if-changed=c/uverbs_probe.c");
    cc::Build::new().file("c/uverbs_probe.c").warnings(true).compile("uverbs_probe");
}
