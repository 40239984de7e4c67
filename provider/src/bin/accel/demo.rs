//! `accel demo`: generated log text through the device pipeline in each format, compressed and
//! decompressed in memory and checked, with the ratio and the throughput of each direction
//! beside the same library called directly on the same data (the baseline a reader can check
//! on any CPU), medians of a few runs and their spread.

use std::path::PathBuf;
use std::time::Instant;

use accelverbs::Format;
use accelverbs_rxe_sim::codec::Direction;
use clap::Args;

use crate::measure::{cpu_model, median, spread, WIDE_SPREAD};
use crate::perf::codec::{bound, Workload};
use crate::pipeline::{Pipeline, BLOCK_LIMIT, CHUNK, DEPTH};
use crate::status::{io_message, out, Exit, Reporter};
use crate::units::{human, parse_size};
use crate::{sample, FormatArg};

/// The largest sample (it is held in memory, with its compressed and decompressed copies).
const MAX_SAMPLE: u64 = 4 << 30;
const MAX_REPEAT: u32 = 100;
/// The format column's width: the longest name, "lz4-block".
const NAME: usize = 9;

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Bytes of sample text (suffixes k, m, g; at most 4g).
    #[arg(long, value_parser = parse_size, default_value = "64m")]
    size: u64,
    /// Formats to run, at their usual levels.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "gzip,zstd,lz4")]
    format: Vec<FormatArg>,
    /// Runs of each direction, device and library alternated; medians are printed (1 to 100).
    #[arg(long, default_value_t = 3)]
    repeat: u32,
    /// Also write the sample to FILE (to compare with the stock tools).
    #[arg(long, value_name = "FILE")]
    save: Option<PathBuf>,
}

/// One direction's runs: the device's and the library's rates, MB/s.
#[derive(Default)]
struct Rates {
    device: Vec<f64>,
    library: Vec<f64>,
}

impl Rates {
    fn cells(&self) -> String {
        let (device, library) = (median(self.device.clone()), median(self.library.clone()));
        format!("{device:>9.1} {library:>9.1} {:>7.2}", device / library.max(1e-9))
    }
}

pub fn run(args: DemoArgs) -> Exit {
    let mut reporter = Reporter::new(false);
    if args.size > MAX_SAMPLE {
        reporter.error("--size", format!("{} is over the limit of {}", human(args.size), human(MAX_SAMPLE)));
        return reporter.status();
    }
    // No bytes, no rate: the rows would read 0.0 MB/s and a 0.00x ratio, marked "ok".
    if args.size == 0 {
        reporter.error("--size", "0 B leaves nothing to measure (at least 1 byte)");
        return reporter.status();
    }
    if !(1..=MAX_REPEAT).contains(&args.repeat) {
        reporter.error("--repeat", format!("{} is outside 1 to {MAX_REPEAT}", args.repeat));
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
    out!(
        "accel demo: {} of generated log text through {} ({DEPTH} x {} KiB compression requests in flight)",
        human(data.len() as u64),
        pipeline.device_name(),
        CHUNK >> 10
    );
    out!(
        "cpu: {}; MB/s are medians of {} runs, each beside the library the device runs, called directly on the same data",
        cpu_model(),
        args.repeat
    );
    out!(
        "{:<NAME$} {:>5} {:>10} {:>6}  {:>9} {:>9} {:>7}  {:>9} {:>9} {:>7}  {:>6}  check",
        "format",
        "level",
        "compressed",
        "ratio",
        "compress",
        "library",
        "dev/lib",
        "decomp.",
        "library",
        "dev/lib",
        "spread"
    );
    for arg in args.format {
        let format = Format::from(arg);
        if format == Format::Lz4Block && data.len() > BLOCK_LIMIT {
            reporter
                .warn(arg.name(), format!("skipped: the sample is over the lz4-block limit of {}", human(BLOCK_LIMIT as u64)));
            continue;
        }
        let level = format.default_level();
        let rate = |secs: f64| data.len() as f64 / secs.max(1e-9) / 1e6;
        let (mut compress, mut decompress) = (Rates::default(), Rates::default());
        let mut packed = Vec::with_capacity(data.len() / 2);
        let mut library = Workload::library(format, level, Direction::Compress);
        let mut scratch = vec![0u8; bound(data.len())];
        let mut failed = None;
        // Round 0 is not timed: it faults in the buffers both sides write and warms the codecs.
        for round in 0..=args.repeat {
            packed.clear();
            let start = Instant::now();
            if let Err(f) = pipeline.compress(format, level, &mut &data[..], &mut packed, &()) {
                failed = Some(f);
                break;
            }
            let device = rate(start.elapsed().as_secs_f64());
            let start = Instant::now();
            if let Err(e) = library.run_direct(&data, &mut scratch) {
                reporter.error(arg.name(), e);
                break;
            }
            if round > 0 {
                compress.device.push(device);
                compress.library.push(rate(start.elapsed().as_secs_f64()));
            }
        }
        if let Some(f) = failed {
            reporter.failure(arg.name(), arg.name(), &f);
            continue;
        }
        let mut back = Vec::with_capacity(data.len());
        let mut library = Workload::library(format, level, Direction::Decompress);
        for round in 0..=args.repeat {
            back.clear();
            let start = Instant::now();
            if let Err(f) = pipeline.decompress(format, Some(data.len() as u64), &mut &packed[..], &mut back, &()) {
                failed = Some(f);
                break;
            }
            let device = rate(start.elapsed().as_secs_f64());
            let start = Instant::now();
            if let Err(e) = library.run_direct(&packed, &mut scratch[..data.len()]) {
                reporter.error(arg.name(), e);
                break;
            }
            if round > 0 {
                decompress.device.push(device);
                decompress.library.push(rate(start.elapsed().as_secs_f64()));
            }
        }
        if let Some(f) = failed {
            reporter.failure(arg.name(), arg.name(), &f);
            continue;
        }
        // A library call that failed was reported, and left its round out.
        if compress.library.len() < args.repeat as usize || decompress.library.len() < args.repeat as usize {
            continue;
        }
        let same = back == data && scratch[..data.len()] == data[..];
        if !same {
            reporter.error(arg.name(), "the data came back different");
        }
        let widest = spread(&compress.device).max(spread(&decompress.device));
        out!(
            "{:<NAME$} {:>5} {:>10} {:>5.2}x  {}  {}  {:>5.0}%  {}",
            arg.name(),
            level,
            human(packed.len() as u64),
            data.len() as f64 / packed.len().max(1) as f64,
            compress.cells(),
            decompress.cells(),
            widest * 100.0,
            if same { "ok" } else { "MISMATCH" }
        );
        if widest > WIDE_SPREAD {
            out!(
                "# warning: {}'s device runs differ by {:.0}%: the machine is busy, do not trust its MB/s",
                arg.name(),
                widest * 100.0
            );
        }
    }
    reporter.status()
}
