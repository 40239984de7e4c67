//! `accel perf`: throughput and latency of NOP, COPY, COMPRESS or DECOMPRESS through the
//! device, set against the same work done directly on the CPU (`memcpy`, or the compression
//! library called directly) on the same registered buffers, alternating in the same run.

mod codec;

use std::time::{Duration, Instant};

use accelverbs::{
    Access, Compress, ContextOptions, Copy, Cq, Decompress, Device, Error, ExecPolicy, Format, MemoryRegion, Nop, PostError, Qp,
    QpInit, SimConfig, WorkCompletion,
};
use accelverbs_rxe_sim::codec::Direction;
use clap::{Args, ValueEnum};

use crate::FormatArg;
use codec::Workload;

use crate::PerfOp;

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    Threads,
    Inline,
    Adaptive,
}

#[derive(Args, Debug)]
pub struct PerfArgs {
    /// Operation to post.
    #[arg(value_enum)]
    op: PerfOp,
    /// Payload sizes for copy, compress and decompress (suffixes k, m; at most 1g): e.g.
    /// 64,4k,64k,1m. For decompress, the size of the data before compression.
    #[arg(long, value_delimiter = ',', value_parser = parse_size, default_value = "64,4k,64k,1m")]
    size: Vec<usize>,
    /// Compression format (compress, decompress).
    #[arg(long, value_enum, default_value_t = FormatArg::Gzip)]
    format: FormatArg,
    /// Compression level (compress; for decompress, the level the data was compressed at;
    /// default: the format's usual one).
    #[arg(long, allow_negative_numbers = true)]
    level: Option<i8>,
    /// Queue depths: work requests kept outstanding (1 to 32768).
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..=32768), default_value = "1,32")]
    qd: Vec<u32>,
    /// Seconds per measurement (0.01 to 3600).
    #[arg(long, value_parser = parse_seconds, default_value = "0.3", allow_negative_numbers = true)]
    seconds: f64,
    /// Measurements per point; medians are reported (1 to 1000).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000), default_value = "5")]
    repeat: u32,
    /// Engine threads of the soft device.
    #[arg(long, default_value_t = 1)]
    engines: usize,
    /// Who executes work: engine threads, the posting thread, or small batches inline.
    #[arg(long, value_enum, default_value_t = Policy::Threads)]
    policy: Policy,
    /// How long an idle engine polls before sleeping, in microseconds.
    #[arg(long, default_value_t = 200)]
    spin_us: u64,
    /// One JSON object per row (no table).
    #[arg(long)]
    json: bool,
}

/// Spread of the device's runs, (max - min) / median, above which a row is flagged: the
/// machine was busy, and the figures are not to be trusted.
const WIDE_SPREAD: f64 = 0.20;

/// The largest payload: one SGE carries at most 4 GiB - 1, and the buffers are allocated.
const MAX_SIZE: usize = 1 << 30;

fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim().to_ascii_lowercase();
    let (digits, mult) = match s.chars().last() {
        Some('k') => (&s[..s.len() - 1], 1usize << 10),
        Some('m') => (&s[..s.len() - 1], 1 << 20),
        Some('g') => (&s[..s.len() - 1], 1 << 30),
        _ => (&s[..], 1),
    };
    let n = digits.parse::<usize>().map_err(|_| format!("bad size {s:?} (a number, optionally with k, m or g)"))?;
    n.checked_mul(mult).filter(|&n| n <= MAX_SIZE).ok_or(format!("size {s:?} is over the limit of 1g"))
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("bad duration {s:?}"))?;
    if !(0.01..=3600.0).contains(&v) {
        return Err(format!("duration {s:?} is outside 0.01 to 3600 seconds"));
    }
    Ok(v)
}

fn human(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 && b % (1 << 20) == 0 => format!("{}MiB", b >> 20),
        b if b >= 1 << 10 && b % (1 << 10) == 0 => format!("{}KiB", b >> 10),
        b => format!("{b}B"),
    }
}

/// One timed run.
#[derive(Debug, Clone, Default)]
struct Sample {
    ops_per_s: f64,
    /// Round-trip latencies of every 16th work request, in ns.
    latencies: Vec<u64>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// (max - min) / median.
fn spread(v: &[f64]) -> f64 {
    let (lo, hi) = v.iter().fold((f64::INFINITY, 0.0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    let mid = median(v.to_vec());
    if mid > 0.0 {
        (hi - lo) / mid
    } else {
        0.0
    }
}

/// One row of results.
struct Row<'a> {
    op: &'a str,
    format: Option<Format>,
    level: Option<i8>,
    size: usize,
    qd: u32,
    engines: usize,
    policy: &'a str,
    ops_per_s: f64,
    mb_per_s: f64,
    p50_ns: u64,
    p99_ns: u64,
    direct_mb_per_s: f64,
    spread: f64,
}

impl Row<'_> {
    fn json(&self) -> String {
        let format = self.format.map_or("null".to_owned(), |f| format!("\"{f:?}\""));
        let level = self.level.map_or("null".to_owned(), |l| l.to_string());
        let ratio = if self.direct_mb_per_s > 0.0 { self.mb_per_s / self.direct_mb_per_s } else { 0.0 };
        format!(
            "{{\"op\":\"{}\",\"format\":{format},\"level\":{level},\"size\":{},\"qd\":{},\"engines\":{},\"threads\":1,\"policy\":\"{}\",\"ops_per_s\":{:.0},\"mb_per_s\":{:.1},\"p50_us\":{:.3},\"p99_us\":{:.3},\"direct_mb_per_s\":{:.1},\"ratio\":{:.3},\"spread\":{:.3}}}",
            self.op,
            self.size,
            self.qd,
            self.engines,
            self.policy,
            self.ops_per_s,
            self.mb_per_s,
            self.p50_ns as f64 / 1000.0,
            self.p99_ns as f64 / 1000.0,
            self.direct_mb_per_s,
            ratio,
            self.spread,
        )
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Rig {
    cq: Cq,
    qp: Qp,
    src: MemoryRegion,
    dst: MemoryRegion,
    /// Bytes the device reads per request, and the output room it gets.
    input_len: u32,
    output_len: u32,
    format: Format,
    level: i8,
}

/// Posts for `duration` keeping `depth` outstanding; returns ops/s and sampled latencies.
fn run_device(rig: &mut Rig, op: PerfOp, depth: u32, duration: Duration) -> Result<Sample, Error> {
    const SAMPLE_EVERY: u64 = 16;
    let mut stamps = vec![Instant::now(); depth.next_power_of_two() as usize];
    let mask = stamps.len() as u64 - 1;
    let mut latencies = Vec::new();
    let mut wc = [WorkCompletion::default(); 64];
    let (mut posted, mut done) = (0u64, 0u64);
    let start = Instant::now();
    let mut stop_posting = false;
    while !stop_posting || done < posted {
        let room = u64::from(depth) - (posted - done);
        if !stop_posting && room > 0 {
            let mut batch = rig.qp.batch();
            for _ in 0..room {
                if posted % SAMPLE_EVERY == 0 {
                    stamps[(posted & mask) as usize] = Instant::now();
                }
                let (src, dst) = (rig.src.slice(0, rig.input_len), rig.dst.slice_mut(0, rig.output_len));
                let r = match op {
                    PerfOp::Nop => batch.push(Nop::new(posted)),
                    PerfOp::Copy => batch.push(Copy::new(posted, src, dst)),
                    PerfOp::Compress => batch.push(Compress::new(posted, rig.format, src, dst).level(rig.level)),
                    PerfOp::Decompress => batch.push(Decompress::new(posted, rig.format, src, dst)),
                };
                match r {
                    Ok(()) => posted += 1,
                    Err(PostError::QueueFull) => break,
                    Err(e) => return Err(Error::Protocol { op: "perf", detail: post_failure(e) }),
                }
            }
            batch.ring();
        }
        let got = rig.cq.poll(&mut wc);
        for w in &wc[..got] {
            if !w.is_success() {
                eprintln!("accel perf: work request {} completed with {:?} ({:?})", w.wr_id, w.status, w.vendor_err);
                return Err(Error::Protocol { op: "perf", detail: "a work request failed" });
            }
            if w.wr_id % SAMPLE_EVERY == 0 {
                latencies.push(stamps[(w.wr_id & mask) as usize].elapsed().as_nanos() as u64);
            }
        }
        done += got as u64;
        if !stop_posting && posted % 1024 < u64::from(depth) && start.elapsed() >= duration {
            stop_posting = true;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(Sample { ops_per_s: done as f64 / secs, latencies })
}

fn post_failure(e: PostError) -> &'static str {
    match e {
        PostError::NotReady(_) => "the QP stopped (a request failed)",
        _ => "a work request could not be posted",
    }
}

/// The CPU doing the work directly on the rig's own buffers (same pages, same alignment as the
/// device path) for `duration`: `memcpy` for COPY, the library for compression. Input bytes
/// per second.
fn run_direct(rig: &mut Rig, workload: Option<&mut Workload>, duration: Duration) -> Result<f64, Error> {
    let input_len = rig.input_len as usize;
    let output_len = rig.output_len as usize;
    let src = &rig.src.as_slice()?[..input_len];
    let dst = &mut rig.dst.as_mut_slice()?[..output_len];
    let start = Instant::now();
    let mut n = 0u64;
    let mut workload = workload;
    // At least one round, so a zero duration runs the work once.
    loop {
        for _ in 0..16 {
            match workload.as_deref_mut() {
                Some(w) => {
                    w.run_direct(src, dst).map_err(|_| Error::Protocol { op: "perf", detail: "the library failed" })?;
                }
                None => dst[..input_len].copy_from_slice(src),
            }
            std::hint::black_box(&mut *dst);
        }
        n += 16;
        if start.elapsed() >= duration {
            break;
        }
    }
    Ok(n as f64 * input_len as f64 / start.elapsed().as_secs_f64())
}

fn op_name(op: PerfOp) -> &'static str {
    match op {
        PerfOp::Nop => "nop",
        PerfOp::Copy => "copy",
        PerfOp::Compress => "compress",
        PerfOp::Decompress => "decompress",
    }
}

fn policy_name(policy: Policy) -> &'static str {
    match policy {
        Policy::Threads => "threads",
        Policy::Inline => "inline",
        Policy::Adaptive => "adaptive",
    }
}

fn print_row(args: &PerfArgs, row: &Row<'_>) {
    if args.json {
        println!("{}", row.json());
        return;
    }
    let fmt_ns = |ns: u64| if ns >= 10_000 { format!("{:.1}us", ns as f64 / 1000.0) } else { format!("{ns}ns") };
    let spread = format!("{:.0}%", row.spread * 100.0);
    if args.op == PerfOp::Nop {
        println!(
            "{:>8} {:>4} {:>12.0} {:>10} {:>10} {:>7}",
            "nop",
            row.qd,
            row.ops_per_s,
            fmt_ns(row.p50_ns),
            fmt_ns(row.p99_ns),
            spread
        );
    } else {
        println!(
            "{:>8} {:>4} {:>12.0} {:>10.1} {:>10} {:>10} {:>12.1} {:>8.2} {:>7}",
            human(row.size),
            row.qd,
            row.ops_per_s,
            row.mb_per_s,
            fmt_ns(row.p50_ns),
            fmt_ns(row.p99_ns),
            row.direct_mb_per_s,
            row.mb_per_s / row.direct_mb_per_s,
            spread
        );
    }
    if row.spread > WIDE_SPREAD {
        println!("# warning: the runs of this row differ by {:.0}%: the machine is busy, do not trust it", row.spread * 100.0);
    }
}

/// The CPU's model name, for the header.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

pub fn run(args: &PerfArgs) -> Result<(), Error> {
    let policy = match args.policy {
        Policy::Threads => ExecPolicy::Threads,
        Policy::Inline => ExecPolicy::Inline,
        Policy::Adaptive => ExecPolicy::Adaptive,
    };
    let format = Format::from(args.format);
    let level = args.level.unwrap_or(format.default_level());
    if matches!(args.op, PerfOp::Compress | PerfOp::Decompress) && !format.levels().contains(&level) {
        let (lo, hi) = (format.levels().start().to_owned(), format.levels().end().to_owned());
        eprintln!("accel perf: level {level} is outside {format:?}'s levels {lo} to {hi}");
        return Err(Error::Protocol { op: "perf", detail: "bad level" });
    }
    let config = SimConfig { engines: args.engines, spin: Duration::from_micros(args.spin_us), ..SimConfig::default() };
    let device = Device::embedded(config);
    let ctx = device.open_with(ContextOptions { policy, ..ContextOptions::default() })?;
    let pd = ctx.alloc_pd()?;
    let sizes = if args.op == PerfOp::Nop { vec![0] } else { args.size.clone() };
    let max_qd = args.qd.iter().copied().max().unwrap_or(1);
    let cq = ctx.create_cq(max_qd.max(64) * 2, None)?;
    let qp = pd.create_qp(&cq, QpInit::new(max_qd.max(64)))?;
    let duration = Duration::from_secs_f64(args.seconds);
    let what = match args.op {
        PerfOp::Compress | PerfOp::Decompress => format!("{:?} {format:?} level {level}", args.op),
        op => format!("{op:?}"),
    };
    let say = |line: String| {
        if !args.json {
            println!("{line}");
        }
    };
    say(format!(
        "# accel perf {what}: device {} engines={} policy={:?} spin={}us; {} x {:.2}s per point, medians; spread = (max - min) / median of the device runs",
        device.name(),
        args.engines,
        ctx.policy(),
        args.spin_us,
        args.repeat,
        args.seconds
    ));
    say(format!("# cpu: {}; direct runs use the same registered buffers, alternated with the device runs", cpu_model()));
    let direct_name = if args.op == PerfOp::Copy { "memcpy" } else { "direct" };
    if args.op == PerfOp::Nop {
        say(format!("{:>8} {:>4} {:>12} {:>10} {:>10} {:>7}", "op", "qd", "ops/s", "p50", "p99", "spread"));
    } else {
        say(format!(
            "{:>8} {:>4} {:>12} {:>10} {:>10} {:>10} {:>12} {:>8} {:>7}",
            "size",
            "qd",
            "ops/s",
            "MB/s",
            "p50",
            "p99",
            format!("{direct_name} MB/s"),
            "ratio",
            "spread"
        ));
    }
    let mut rig = Rig {
        cq,
        qp,
        src: pd.alloc_mr(1, Access::empty())?,
        dst: pd.alloc_mr(1, Access::LOCAL_WRITE)?,
        input_len: 0,
        output_len: 0,
        format,
        level,
    };
    for &size in &sizes {
        let mut workload = match args.op {
            PerfOp::Compress => Some(Workload::new(format, level, Direction::Compress, size)),
            // The data decompressed is what the library writes at that level.
            PerfOp::Decompress => Some(Workload::new(format, level, Direction::Decompress, size)),
            _ => None,
        }
        .transpose()
        .map_err(|e| {
            eprintln!("accel perf: {e}");
            Error::Protocol { op: "perf", detail: "the library failed" }
        })?;
        let (input, output_room) = match &workload {
            Some(w) => (w.input.clone(), w.output_room),
            None => ((0..size).map(|i| i as u8).collect(), size),
        };
        rig.src = pd.alloc_mr(input.len().max(1), Access::empty())?;
        rig.dst = pd.alloc_mr(output_room.max(1), Access::LOCAL_WRITE)?;
        rig.src.as_mut_slice()?[..input.len()].copy_from_slice(&input);
        (rig.input_len, rig.output_len) = (input.len() as u32, output_room as u32);
        if args.op != PerfOp::Nop && size == sizes[0] {
            say(format!("# buffers: source at page offset {}, destination at {}", rig.src.addr() % 4096, rig.dst.addr() % 4096));
        }
        if let Some(w) = workload.as_mut() {
            let packed = match w.direction {
                Direction::Decompress => w.input.len(),
                Direction::Compress => {
                    run_direct(&mut rig, Some(&mut *w), Duration::ZERO)?;
                    w.last_output
                }
            };
            say(format!("# {}: the data compresses {:.2}:1", human(size), size as f64 / packed.max(1) as f64));
        }
        for &qd in &args.qd {
            let mut dev_samples = Vec::new();
            let mut cpu = Vec::new();
            // Warm-up, then alternate device and direct runs so both see the same machine.
            run_device(&mut rig, args.op, qd, duration / 4)?;
            for _ in 0..args.repeat {
                dev_samples.push(run_device(&mut rig, args.op, qd, duration)?);
                if args.op != PerfOp::Nop {
                    cpu.push(run_direct(&mut rig, workload.as_mut(), duration)?);
                }
            }
            let runs: Vec<f64> = dev_samples.iter().map(|s| s.ops_per_s).collect();
            let ops = median(runs.clone());
            let mut lat: Vec<u64> = dev_samples.iter().flat_map(|s| s.latencies.iter().copied()).collect();
            lat.sort_unstable();
            // Throughput in bytes of input per second (plain bytes for decompression, so the
            // two directions compare), MB = 10^6 bytes.
            let per_op = if args.op == PerfOp::Decompress { size } else { rig.input_len as usize } as f64;
            let row = Row {
                op: op_name(args.op),
                format: matches!(args.op, PerfOp::Compress | PerfOp::Decompress).then_some(format),
                level: matches!(args.op, PerfOp::Compress | PerfOp::Decompress).then_some(level),
                size,
                qd,
                engines: args.engines,
                policy: policy_name(args.policy),
                ops_per_s: ops,
                mb_per_s: ops * per_op / 1e6,
                p50_ns: percentile(&lat, 0.50),
                p99_ns: percentile(&lat, 0.99),
                direct_mb_per_s: if cpu.is_empty() { 0.0 } else { median(cpu) * per_op / rig.input_len.max(1) as f64 / 1e6 },
                spread: spread(&runs),
            };
            print_row(args, &row);
        }
    }
    Ok(())
}
