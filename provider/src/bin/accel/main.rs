//! `accel`: inspect and benchmark accelverbs devices.
//!
//! ```text
//! accel devinfo
//! accel perf nop  --qd 1,32
//! accel perf copy --size 64,4k,64k,1m --qd 1,32
//! accel perf compress --format gzip --level 1 --size 4k,64k --qd 1,32
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
    Compress,
    Decompress,
}

/// A compression format on the command line.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatArg {
    Deflate,
    Zlib,
    Gzip,
    Lz4,
    Lz4Block,
    Zstd,
}

impl From<FormatArg> for accelverbs::Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Deflate => Self::Deflate,
            FormatArg::Zlib => Self::Zlib,
            FormatArg::Gzip => Self::Gzip,
            FormatArg::Lz4 => Self::Lz4Frame,
            FormatArg::Lz4Block => Self::Lz4Block,
            FormatArg::Zstd => Self::Zstd,
        }
    }
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
