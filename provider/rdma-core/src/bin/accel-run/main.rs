//! `accel-run CMD [ARGS]`: runs a verbs program against the embedded soft device.

fn main() {}
