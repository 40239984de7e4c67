//! `accel perf`: throughput and latency of NOP or COPY through the device, with the COPY
//! figures set against plain `memcpy` of the same sizes measured in the same run.

use std::time::{Duration, Instant};

use accelverbs::{
    Access, ContextOptions, Copy, Cq, Device, Error, ExecPolicy, MemoryRegion, Nop, PostError, Qp, QpInit, SimConfig,
    WorkCompletion,
};
use clap::{Args, ValueEnum};

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
    /// Payload sizes for copy (suffixes k, m): e.g. 64,4k,64k,1m.
    #[arg(long, value_delimiter = ',', value_parser = parse_size, default_value = "64,4k,64k,1m")]
    size: Vec<usize>,
    /// Queue depths: work requests kept outstanding.
    #[arg(long, value_delimiter = ',', default_value = "1,32")]
    qd: Vec<u32>,
    /// Seconds per measurement.
    #[arg(long, default_value_t = 0.3)]
    seconds: f64,
    /// Measurements per point; medians are reported.
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// Engine threads of the soft device.
    #[arg(long, default_value_t = 1)]
    engines: usize,
    /// Who executes work: engine threads, the posting thread, or small batches inline.
    #[arg(long, value_enum, default_value_t = Policy::Threads)]
    policy: Policy,
    /// How long an idle engine polls before sleeping, in microseconds.
    #[arg(long, default_value_t = 200)]
    spin_us: u64,
}

fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim().to_ascii_lowercase();
    let (digits, mult) = match s.chars().last() {
        Some('k') => (&s[..s.len() - 1], 1 << 10),
        Some('m') => (&s[..s.len() - 1], 1 << 20),
        _ => (&s[..], 1),
    };
    digits.parse::<usize>().map(|n| n * mult).map_err(|_| format!("bad size {s:?}"))
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
    bytes_per_s: f64,
    /// Round-trip latencies of every 16th work request, in ns.
    latencies: Vec<u64>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
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
}

/// Posts for `duration` keeping `depth` outstanding; returns ops/s and sampled latencies.
fn run_device(rig: &mut Rig, op: PerfOp, size: usize, depth: u32, duration: Duration) -> Result<Sample, Error> {
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
                let r = match op {
                    PerfOp::Nop => batch.push(Nop::new(posted)),
                    PerfOp::Copy => {
                        batch.push(Copy::new(posted, rig.src.slice(0, size as u32), rig.dst.slice_mut(0, size as u32)))
                    }
                };
                match r {
                    Ok(()) => posted += 1,
                    Err(PostError::QueueFull) => break,
                    Err(e) => panic!("post failed: {e}"),
                }
            }
            batch.ring();
        }
        let got = rig.cq.poll(&mut wc);
        for w in &wc[..got] {
            if !w.is_success() {
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
    Ok(Sample { ops_per_s: done as f64 / secs, bytes_per_s: (done as f64 * size as f64) / secs, latencies })
}

/// Plain memcpy of `size` bytes between the same two buffers, for `duration`.
fn run_memcpy(src: &[u8], dst: &mut [u8], duration: Duration) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < duration {
        for _ in 0..64 {
            dst.copy_from_slice(src);
            std::hint::black_box(&mut *dst);
        }
        n += 64;
    }
    n as f64 * src.len() as f64 / start.elapsed().as_secs_f64()
}

pub fn run(args: &PerfArgs) -> Result<(), Error> {
    let policy = match args.policy {
        Policy::Threads => ExecPolicy::Threads,
        Policy::Inline => ExecPolicy::Inline,
        Policy::Adaptive => ExecPolicy::Adaptive,
    };
    let config = SimConfig { engines: args.engines, spin: Duration::from_micros(args.spin_us), ..SimConfig::default() };
    let device = Device::embedded(config);
    let ctx = device.open_with(ContextOptions { policy, ..ContextOptions::default() })?;
    let pd = ctx.alloc_pd()?;
    let sizes = if args.op == PerfOp::Nop { vec![0] } else { args.size.clone() };
    let max_qd = args.qd.iter().copied().max().unwrap_or(1);
    let cq = ctx.create_cq(max_qd.max(64) * 2, None)?;
    let qp = pd.create_qp(&cq, QpInit::new(max_qd.max(64)))?;
    let duration = Duration::from_secs_f64(args.seconds);
    println!(
        "# accel perf {:?}: device {} engines={} policy={:?}; {} x {:.2}s per point, medians",
        args.op,
        device.name(),
        args.engines,
        ctx.policy(),
        args.repeat,
        args.seconds
    );
    if args.op == PerfOp::Copy {
        println!(
            "{:>8} {:>4} {:>12} {:>10} {:>10} {:>10} {:>12} {:>8}",
            "size", "qd", "ops/s", "GB/s", "p50", "p99", "memcpy GB/s", "ratio"
        );
    } else {
        println!("{:>8} {:>4} {:>12} {:>10} {:>10}", "op", "qd", "ops/s", "p50", "p99");
    }
    let mut rig = Rig { cq, qp, src: pd.alloc_mr(1, Access::empty())?, dst: pd.alloc_mr(1, Access::LOCAL_WRITE)? };
    for &size in &sizes {
        rig.src = pd.alloc_mr(size.max(1), Access::empty())?;
        rig.dst = pd.alloc_mr(size.max(1), Access::LOCAL_WRITE)?;
        rig.src.as_mut_slice()?.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
        let mut plain_src = vec![1u8; size.max(1)];
        plain_src[0] = 2;
        let mut plain_dst = vec![0u8; size.max(1)];
        for &qd in &args.qd {
            let mut dev_samples = Vec::new();
            let mut cpu = Vec::new();
            // Warm-up, then alternate device and memcpy runs so both see the same machine.
            run_device(&mut rig, args.op, size, qd, duration / 4)?;
            for _ in 0..args.repeat {
                dev_samples.push(run_device(&mut rig, args.op, size, qd, duration)?);
                if args.op == PerfOp::Copy {
                    cpu.push(run_memcpy(&plain_src, &mut plain_dst, duration));
                }
            }
            let ops = median(dev_samples.iter().map(|s| s.ops_per_s).collect());
            let mut lat: Vec<u64> = dev_samples.iter().flat_map(|s| s.latencies.iter().copied()).collect();
            lat.sort_unstable();
            let (p50, p99) = (percentile(&lat, 0.50), percentile(&lat, 0.99));
            let fmt_ns = |ns: u64| if ns >= 10_000 { format!("{:.1}us", ns as f64 / 1000.0) } else { format!("{ns}ns") };
            if args.op == PerfOp::Copy {
                let gbs = median(dev_samples.iter().map(|s| s.bytes_per_s).collect()) / 1e9;
                let mem = median(cpu) / 1e9;
                println!(
                    "{:>8} {:>4} {:>12.0} {:>10.2} {:>10} {:>10} {:>12.2} {:>8.2}",
                    human(size),
                    qd,
                    ops,
                    gbs,
                    fmt_ns(p50),
                    fmt_ns(p99),
                    mem,
                    gbs / mem
                );
            } else {
                println!("{:>8} {:>4} {:>12.0} {:>10} {:>10}", "nop", qd, ops, fmt_ns(p50), fmt_ns(p99));
            }
        }
    }
    Ok(())
}
