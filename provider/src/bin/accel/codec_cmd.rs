//! `accel compress` and `accel decompress`: any of the device's formats, from a file or
//! standard input to a file (`-o`, written whole or not at all) or standard output. Nothing
//! but the data goes to standard output.

use std::path::PathBuf;

use accelverbs::Format;
use clap::Args;

use crate::ends::{self, Sink};
use crate::pipeline::{Pipeline, Trailing};
use crate::progress::Progress;
use crate::status::{Exit, Reporter};
use crate::units::parse_size;
use crate::{stdio, FormatArg};

/// Where the data comes from and goes.
#[derive(Args, Debug)]
pub struct Files {
    /// Write to OUT (replaced only when complete) instead of standard output.
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,
    /// Overwrite an existing OUT; write compressed data to a terminal.
    #[arg(short, long)]
    force: bool,
    /// No warnings, no progress bar.
    #[arg(short, long)]
    quiet: bool,
    /// The input (default, or `-`: standard input).
    input: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct CompressArgs {
    /// Format to write.
    #[arg(long, value_enum)]
    format: FormatArg,
    /// Compression level, in the format's range (deflate, zlib, gzip 0-9; lz4 0-12; zstd -128-19).
    #[arg(long, allow_negative_numbers = true)]
    level: Option<i64>,
    #[command(flatten)]
    files: Files,
}

#[derive(Args, Debug)]
pub struct DecompressArgs {
    /// Format to read.
    #[arg(long, value_enum)]
    format: FormatArg,
    /// lz4-block only: the decompressed size in bytes (suffixes k, m; at most 64m), which a raw
    /// block does not record. A larger value works too.
    #[arg(long, value_parser = parse_size)]
    size: Option<u64>,
    #[command(flatten)]
    files: Files,
}

pub fn compress(args: CompressArgs) -> Exit {
    let format = Format::from(args.format);
    let mut reporter = Reporter::new(args.files.quiet);
    let levels = format.levels();
    let wanted = args.level.unwrap_or(i64::from(format.default_level()));
    let Some(level) = i8::try_from(wanted).ok().filter(|l| levels.contains(l)) else {
        let (lo, hi) = (levels.start(), levels.end());
        reporter.error("--level", format!("level {wanted} is outside {}'s levels {lo} to {hi}", args.format.name()));
        return reporter.status();
    };
    if args.files.output.is_none() && !args.files.force && stdio::stdout_is_terminal() {
        reporter.error("stdout", "compressed data not written to a terminal. Use -f to force compression.");
        return reporter.status();
    }
    run(&args.files, &mut reporter, Work::Compress { format, level })
}

pub fn decompress(args: DecompressArgs) -> Exit {
    let format = Format::from(args.format);
    let mut reporter = Reporter::new(args.files.quiet);
    if format != Format::Lz4Block && args.size.is_some() {
        reporter.error("--size", "applies to --format lz4-block only (the other formats record their size)");
        return reporter.status();
    }
    if ends::is_stdin(args.files.input.as_deref()) && !args.files.force && stdio::stdin_is_terminal() {
        reporter.error("stdin", "compressed data not read from a terminal. Use -f to force decompression.");
        return reporter.status();
    }
    run(&args.files, &mut reporter, Work::Decompress { format, size: args.size })
}

/// What a command asks of the pipeline.
#[derive(Debug, Clone, Copy)]
enum Work {
    Compress { format: Format, level: i8 },
    Decompress { format: Format, size: Option<u64> },
}

/// Opens the ends, runs `work` through the device, and commits the output file on success.
fn run(files: &Files, reporter: &mut Reporter, work: Work) -> Exit {
    let Some((in_name, mut input)) = ends::open_input(files.input.as_deref(), reporter) else {
        return reporter.status();
    };
    let Some((out_name, mut sink)) = Sink::open(files.output.as_deref(), files.force, reporter) else {
        return reporter.status();
    };
    let mut pipeline = match Pipeline::open() {
        Ok(p) => p,
        Err(f) => {
            reporter.failure(&in_name, &out_name, &f);
            return reporter.status();
        }
    };
    let progress = Progress::new(&in_name, stdio::regular_size(&input), reporter.quiet());
    let output = sink.writer();
    let result = match work {
        Work::Compress { format, level } => pipeline.compress(format, level, &mut input, output, &progress),
        Work::Decompress { format, size } => pipeline.decompress(format, size, &mut input, output, &progress),
    };
    drop(progress);
    match result {
        Ok(totals) => {
            sink.commit(&out_name, reporter);
            if totals.trailing == Trailing::Garbage {
                reporter.warn(&in_name, "decompression OK, trailing garbage ignored");
            }
        }
        // A partial output file goes with `sink`.
        Err(failure) => reporter.failure(&in_name, &out_name, &failure),
    }
    reporter.status()
}
