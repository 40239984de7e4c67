//! `accel demo`: generated log text through the device pipeline in each format, compressed and
//! decompressed in memory and checked, with the ratio and the throughput of each direction.

use std::path::PathBuf;
use std::time::Instant;

use accelverbs::Format;
use clap::Args;

use crate::pipeline::{Pipeline, BLOCK_LIMIT, CHUNK, DEPTH};
use crate::status::{io_message, Exit, Reporter};
use crate::units::{human, parse_size};
use crate::{sample, FormatArg};

/// The largest sample (it is held in memory, with its compressed and decompressed copies).
const MAX_SAMPLE: u64 = 4 << 30;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Bytes of sample text (suffixes k, m, g; at most 4g).
    #[arg(long, value_parser = parse_size, default_value = "64m")]
    size: u64,
    /// Formats to run, at their usual levels.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "gzip,zstd,lz4")]
    format: Vec<FormatArg>,
    /// Also write the sample to FILE (to compare with the stock tools).
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
}

pub fn run(args: DemoArgs) -> Exit {
    let mut reporter = Reporter::new(false);
    if args.size > MAX_SAMPLE {
        reporter.error("--size", format!("{} is over the limit of {}", human(args.size), human(MAX_SAMPLE)));
        return reporter.status();
    }
    let data = sample::log_text(args.size as usize);
    if let Some(path) = &args.save {
        if let Err(e) = std::fs::write(path, &data) {
            reporter.error(&path.display().to_string(), io_message(&e));
            return reporter.status();
        }
    }
    let mut pipeline = match Pipeline::open() {
        Ok(p) => p,
        Err(f) => {
            reporter.failure("demo", "demo", &f);
            return reporter.status();
        }
    };
    println!(
        "accel demo: {} of generated log text through {} ({DEPTH} x {} KiB compression requests in flight)",
        human(data.len() as u64),
        pipeline.device_name(),
        CHUNK >> 10
    );
    println!(
        "{:<10} {:>5} {:>11} {:>7} {:>14} {:>14}  check",
        "format", "level", "compressed", "ratio", "compress", "decompress"
    );
    for arg in args.format {
        let format = Format::from(arg);
        if format == Format::Lz4Block && data.len() > BLOCK_LIMIT {
            reporter
                .warn(arg.name(), format!("skipped: the sample is over the lz4-block limit of {}", human(BLOCK_LIMIT as u64)));
            continue;
        }
        let level = format.default_level();
        let mut packed = Vec::with_capacity(data.len() / 2);
        let start = Instant::now();
        if let Err(f) = pipeline.compress(format, level, &mut &data[..], &mut packed, &()) {
            reporter.failure(arg.name(), arg.name(), &f);
            continue;
        }
        let compress_s = start.elapsed().as_secs_f64();
        let mut back = Vec::with_capacity(data.len());
        let start = Instant::now();
        if let Err(f) = pipeline.decompress(format, Some(data.len() as u64), &mut &packed[..], &mut back, &()) {
            reporter.failure(arg.name(), arg.name(), &f);
            continue;
        }
        let decompress_s = start.elapsed().as_secs_f64();
        let same = back == data;
        if !same {
            reporter.error(arg.name(), "the data came back different");
        }
        let mbs = |secs: f64| format!("{:.1} MB/s", data.len() as f64 / secs.max(1e-9) / 1e6);
        println!(
            "{:<10} {:>5} {:>11} {:>6.2}x {:>14} {:>14}  {}",
            arg.name(),
            level,
            human(packed.len() as u64),
            data.len() as f64 / packed.len().max(1) as f64,
            mbs(compress_s),
            mbs(decompress_s),
            if same { "ok" } else { "MISMATCH" }
        );
    }
    reporter.status()
}
