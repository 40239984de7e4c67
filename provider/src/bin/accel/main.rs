//! `accel`: inspect and benchmark accelverbs devices.
//!
//! ```text
//! accel devinfo
//! accel perf nop  --qd 1,32
//! accel perf copy --size 64,4k,64k,1m --qd 1,32
//! ```

mod devinfo;
mod perf;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(name = "accel", version, about = "Inspect and benchmark accelverbs devices")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show devices, versions, limits and supported opcodes (like ibv_devinfo).
    Devinfo,
    /// Measure throughput and latency of one operation against the CPU doing it directly.
    Perf(perf::PerfArgs),
}

/// Which work requests `accel perf` posts.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PerfOp {
    Nop,
    Copy,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Devinfo => devinfo::run(),
        Command::Perf(args) => perf::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("accel: {e}");
            ExitCode::FAILURE
        }
    }
}
