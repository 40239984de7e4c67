//! `accel perf`: throughput and latency of NOP, COPY, COMPRESS, DECOMPRESS, ENCRYPT, DECRYPT or
//! DIGEST through the device, set against the same work done directly on the CPU (`memcpy`, or
//! the compression or crypto library called directly) on the same registered buffers,
//! alternating in the same run.

/// `wr`, marked solicited if `on`: its completion wakes a CQ armed for solicited ones only.
macro_rules! solicited {
    ($wr:expr, $on:expr) => {{
        let wr = $wr;
        if $on {
            wr.solicited()
        } else {
            wr
        }
    }};
}

mod channel;
pub(crate) mod codec;
mod core_to_core;
mod crypto;
mod plot;

use std::sync::Barrier;
use std::time::{Duration, Instant};

use accelverbs::{
    CompletionChannel, Compress, Context, ContextOptions, Copy, Cq, Decompress, Error, ExecPolicy, Format, MemoryRegion, Nop, Pd,
    PostError, Qp, QpInit, WorkCompletion,
};
use accelverbs_rxe_sim::codec::Direction;
use clap::{Args, ValueEnum};

use crate::measure::{cpu_model, median, spread, WIDE_SPREAD};
use crate::status::{self, out};
use crate::FormatArg;
use codec::Workload;
use crypto::{CryptoAlg, CryptoWork};

use crate::PerfOp;

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    Threads,
    Inline,
    Adaptive,
}

/// How the application waits for its completions.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Polls the CQ without pause.
    Spin,
    /// Arms the CQ and sleeps on a completion channel whenever it has nothing to post or
    /// poll: the engines have the CPUs to themselves.
    Event,
}

#[derive(Args, Debug)]
pub struct PerfArgs {
    /// Operation to post.
    #[arg(value_enum)]
    op: PerfOp,
    /// Payload sizes for copy, compress and decompress (suffixes k, m; at most 1g): e.g.
    /// 64,4k,64k,1m. For decompress, the size of the data before compression.
    #[arg(long, value_delimiter = ',', value_parser = parse_size, default_value = DEFAULT_SIZES)]
    size: Vec<usize>,
    /// Compression format (compress, decompress).
    #[arg(long, value_enum, default_value_t = FormatArg::Gzip)]
    format: FormatArg,
    /// Crypto algorithm: aes-128-gcm, aes-256-gcm (the default), aes-128-xts or aes-256-xts
    /// for encrypt and decrypt; sha256 (the default), hmac-sha256 or crc32c for digest.
    #[arg(long, value_enum)]
    alg: Option<CryptoAlg>,
    /// AES-XTS data unit in bytes (16 to 1m): each size must be a whole number of them.
    #[arg(long, value_parser = parse_size, default_value = "512")]
    data_unit: usize,
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
    /// Engine threads of the soft device, a list (0 to 64): e.g. 1,2.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u16).range(0..=64), default_value = "1")]
    engines: Vec<u16>,
    /// Application threads posting at once, each on its own QP and buffers, a list (1 to 64).
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u16).range(1..=64), default_value = "1")]
    threads: Vec<u16>,
    /// Check the outputs: every completion's size, and each run's last output against the
    /// expected bytes (decompressed by the library, for compression).
    #[arg(long)]
    verify: bool,
    /// Who executes work: engine threads, the posting thread, or small batches inline.
    #[arg(long, value_enum, default_value_t = Policy::Threads)]
    policy: Policy,
    /// How the application waits for completions: polling the CQ, or asleep on a completion
    /// channel whenever it has nothing to post (with --policy threads).
    #[arg(long, value_enum, default_value_t = Wait::Spin)]
    wait: Wait,
    /// How long an idle engine polls before sleeping, in microseconds.
    #[arg(long, default_value_t = 200)]
    spin_us: u64,
    /// One JSON object per row (no table).
    #[arg(long)]
    json: bool,
    /// Also draw the rows into FILE.svg or FILE.png: throughput by size, p50 latency by queue
    /// depth. The labels need a TrueType font: fontconfig's sans-serif, DejaVu Sans (Debian's
    /// fonts-dejavu-core), or the file ACCEL_PLOT_FONT names.
    #[arg(long, value_name = "FILE.svg|FILE.png")]
    plot: Option<std::path::PathBuf>,
    /// Where the device runs, a list: in this process, or an accel-simd daemon (the one of
    /// ACCELVERBS_SOCKET, else one started from the accel-simd beside this program).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "embedded")]
    channel: Vec<channel::ChannelArg>,
    /// Whose memory the requests name, a list: regions the device allocates (shared with a
    /// daemon), or this program's pages registered as they are (a daemon copies them).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "owned")]
    memory: Vec<channel::MemoryArg>,
}

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

pub(crate) fn human(bytes: usize) -> String {
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
    /// Round-trip latencies of every 64th work request, in ns.
    latencies: Vec<u64>,
}

/// One row of results.
struct Row<'a> {
    op: &'a str,
    format: Option<Format>,
    alg: Option<&'a str>,
    level: Option<i8>,
    size: usize,
    qd: u32,
    engines: u16,
    threads: u16,
    policy: &'a str,
    wait: &'a str,
    channel: &'a str,
    memory: &'a str,
    ops_per_s: f64,
    mb_per_s: f64,
    p50_ns: u64,
    p99_ns: u64,
    direct_mb_per_s: f64,
    spread: f64,
    /// The run's core-to-core round trip (`core_to_core.rs`), what engine figures hinge on;
    /// `None` if it could not be measured (JSON `null`).
    core_to_core_ns: Option<f64>,
}

impl Row<'_> {
    fn json(&self) -> String {
        let format = self.format.map_or("null".to_owned(), |f| format!("\"{f:?}\""));
        let alg = self.alg.map_or("null".to_owned(), |a| format!("\"{a}\""));
        let level = self.level.map_or("null".to_owned(), |l| l.to_string());
        let ratio = if self.direct_mb_per_s > 0.0 { self.mb_per_s / self.direct_mb_per_s } else { 0.0 };
        format!(
            "{{\"op\":\"{}\",\"format\":{format},\"alg\":{alg},\"level\":{level},\"size\":{},\"qd\":{},\"engines\":{},\"threads\":{},\"policy\":\"{}\",\"wait\":\"{}\",\"channel\":\"{}\",\"memory\":\"{}\",\"ops_per_s\":{:.0},\"mb_per_s\":{:.1},\"p50_us\":{:.3},\"p99_us\":{:.3},\"direct_mb_per_s\":{:.1},\"ratio\":{:.3},\"spread\":{:.3},\"core_to_core_ns\":{}}}",
            self.op,
            self.size,
            self.qd,
            self.engines,
            self.threads,
            self.policy,
            self.wait,
            self.channel,
            self.memory,
            self.ops_per_s,
            self.mb_per_s,
            self.p50_ns as f64 / 1000.0,
            self.p99_ns as f64 / 1000.0,
            self.direct_mb_per_s,
            ratio,
            self.spread,
            self.core_to_core_ns.map_or("null".to_owned(), |ns| format!("{ns:.0}")),
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
    /// With `--wait event`: the channel `cq` signals when armed.
    channel: Option<CompletionChannel>,
    src: MemoryRegion,
    dst: MemoryRegion,
    /// The pages under `src` and `dst` with `--memory caller`: after them, so dropped after.
    _pages: Option<(channel::CallerPages, channel::CallerPages)>,
    /// Bytes the device reads per request, and the output room it gets.
    input_len: u32,
    output_len: u32,
    format: Format,
    level: i8,
    /// What the last completion reported it produced, and its request.
    last_byte_len: u32,
    last_wr_id: u64,
    /// The crypto operations' keys and library side.
    crypto: Option<CryptoWork>,
}

/// Posts for `duration` keeping `depth` outstanding; returns ops/s and sampled latencies.
/// With `verify`, every completion must report the size the first one did (the same request
/// gives the same output).
fn run_device(rig: &mut Rig, op: PerfOp, depth: u32, duration: Duration, verify: bool) -> Result<Sample, Error> {
    // Every 64th request is stamped: at 1 in 16 the clock reads were a tenth of an inline NOP.
    // A quarter-second point of small requests still keeps tens of thousands of samples at
    // QD 1, plenty for a p99; a point of slow requests has few either way (raise --seconds).
    const SAMPLE_EVERY: u64 = 64;
    let mut stamps = vec![Instant::now(); depth.next_power_of_two() as usize];
    let mask = stamps.len() as u64 - 1;
    let mut latencies = Vec::new();
    let mut wc = [WorkCompletion::default(); 64];
    let (mut posted, mut done) = (0u64, 0u64);
    let start = Instant::now();
    let mut stop_posting = false;
    let event = rig.channel.is_some();
    // With `--wait event`: every stride-th request wakes the application, twice a depth (four
    // times a depth cost two engines on 2 vCPUs a little: 1.83 against 1.85x one, medians).
    let stride = u64::from(depth / 2).max(1);
    let mut last_solicited: Option<u64> = None;
    // When to read the clock next, in requests posted: a clock read costs about a NOP, and a
    // slow request must not carry the run far past its time.
    let mut next_look = 1u64;
    while !stop_posting || done < posted {
        let room = u64::from(depth) - (posted - done);
        if !stop_posting && room > 0 {
            let mut batch = rig.qp.batch();
            for _ in 0..room {
                if posted % SAMPLE_EVERY == 0 {
                    stamps[(posted & mask) as usize] = Instant::now();
                }
                // The slices only for requests that name them: a NOP costs tens of
                // nanoseconds, and the tool's own work is part of what it measures.
                let (src, dst, input_len, output_len) = (&rig.src, &mut rig.dst, rig.input_len, rig.output_len);
                let solicit = event && posted % stride == stride - 1;
                let r = match (op, rig.crypto.as_mut()) {
                    (PerfOp::Nop, _) => batch.push(solicited!(Nop::new(posted), solicit)),
                    (PerfOp::Copy, _) => {
                        batch.push(solicited!(Copy::new(posted, src.slice(0, input_len), dst.slice_mut(0, output_len)), solicit))
                    }
                    (PerfOp::Compress, _) => batch.push(solicited!(
                        Compress::new(posted, rig.format, src.slice(0, input_len), dst.slice_mut(0, output_len)).level(rig.level),
                        solicit
                    )),
                    (PerfOp::Decompress, _) => batch.push(solicited!(
                        Decompress::new(posted, rig.format, src.slice(0, input_len), dst.slice_mut(0, output_len)),
                        solicit
                    )),
                    (PerfOp::Encrypt | PerfOp::Decrypt | PerfOp::Digest, Some(work)) => {
                        work.push(&mut batch, posted, src.slice(0, input_len), dst.slice_mut(0, output_len), solicit)
                    }
                    (_, None) => return Err(Error::Protocol { op: "perf", detail: "no crypto work set up" }),
                };
                match r {
                    Ok(()) => {
                        if solicit {
                            last_solicited = Some(posted);
                        }
                        posted += 1
                    }
                    Err(PostError::QueueFull) => break,
                    Err(e) => return Err(Error::Protocol { op: "perf", detail: post_failure(e) }),
                }
            }
            batch.ring();
        }
        let mut got = rig.cq.poll(&mut wc);
        if got == 0 && (stop_posting || posted - done == u64::from(depth)) {
            if let Some(channel) = &rig.channel {
                let solicited_only = !stop_posting && last_solicited.is_some_and(|wr| wr >= done);
                got = sleep_until_completion(&mut rig.cq, channel, solicited_only, &mut wc)?;
            }
        }
        for w in &wc[..got] {
            if !w.is_success() {
                status::say(format_args!(
                    "accel perf: work request {} completed with {:?} ({:?})",
                    w.wr_id, w.status, w.vendor_err
                ));
                return Err(Error::Protocol { op: "perf", detail: "a work request failed" });
            }
            if w.wr_id % SAMPLE_EVERY == 0 {
                latencies.push(stamps[(w.wr_id & mask) as usize].elapsed().as_nanos() as u64);
            }
            if verify && done > 0 && w.byte_len != rig.last_byte_len {
                status::say(format_args!(
                    "accel perf: work request {} produced {} bytes, others {}",
                    w.wr_id, w.byte_len, rig.last_byte_len
                ));
                return Err(Error::Protocol { op: "perf --verify", detail: "outputs of the same request differ" });
            }
            rig.last_byte_len = w.byte_len;
            rig.last_wr_id = w.wr_id;
        }
        done += got as u64;
        if !stop_posting && posted >= next_look {
            let elapsed = start.elapsed();
            stop_posting = elapsed >= duration;
            next_look = posted + requests_until_next_look(done, elapsed, duration);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(Sample { ops_per_s: done as f64 / secs, latencies })
}

/// How many requests to post before the clock is read again: about a sixty-fourth of the run at
/// the rate of the `done` so far (the next one, before any is done), 1 to 1024.
fn requests_until_next_look(done: u64, elapsed: Duration, duration: Duration) -> u64 {
    if done == 0 {
        return 1;
    }
    let per_request = elapsed.as_secs_f64() / done as f64;
    let wanted = duration.as_secs_f64() / 64.0 / per_request.max(1e-9);
    wanted.clamp(1.0, 1024.0) as u64
}

/// `--wait event` with nothing to post: arms the CQ, polls once more (a completion that
/// landed before the arm sends no event), then sleeps on the channel. What it polled.
fn sleep_until_completion(
    cq: &mut Cq,
    channel: &CompletionChannel,
    solicited_only: bool,
    wc: &mut [WorkCompletion],
) -> Result<usize, Error> {
    // Far beyond any request's time: a device that stopped answering ends the run.
    const PATIENCE: Duration = Duration::from_secs(10);
    loop {
        cq.req_notify(solicited_only)?;
        let got = cq.poll(wc);
        if got > 0 {
            return Ok(got);
        }
        if channel.get_event(Some(PATIENCE))?.is_none() {
            return Err(Error::Protocol { op: "perf --wait event", detail: "no completion event in 10 s" });
        }
        let got = cq.poll(wc);
        if got > 0 {
            return Ok(got);
        }
    }
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
    let failed = || Error::Protocol { op: "perf", detail: "the library failed" };
    // Requests between clock reads: one at first, then about a sixty-fourth of the run. At least
    // one request, so a zero duration runs the work once.
    let mut batch = 1u64;
    loop {
        for i in 0..batch {
            match (workload.as_deref_mut(), rig.crypto.as_mut()) {
                (Some(w), _) => {
                    w.run_direct(src, dst).map_err(|_| failed())?;
                }
                (None, Some(work)) => {
                    if !work.run_direct(n + i, src, dst) {
                        return Err(failed());
                    }
                }
                (None, None) => dst[..input_len].copy_from_slice(src),
            }
            std::hint::black_box(&mut *dst);
        }
        n += batch;
        let elapsed = start.elapsed();
        if elapsed >= duration {
            break;
        }
        batch = requests_until_next_look(n, elapsed, duration);
    }
    Ok(n as f64 * input_len as f64 / start.elapsed().as_secs_f64())
}

fn op_name(op: PerfOp) -> &'static str {
    match op {
        PerfOp::Nop => "nop",
        PerfOp::Copy => "copy",
        PerfOp::Compress => "compress",
        PerfOp::Decompress => "decompress",
        PerfOp::Encrypt => "encrypt",
        PerfOp::Decrypt => "decrypt",
        PerfOp::Digest => "digest",
    }
}

fn policy_name(policy: Policy) -> &'static str {
    match policy {
        Policy::Threads => "threads",
        Policy::Inline => "inline",
        Policy::Adaptive => "adaptive",
    }
}

fn wait_name(wait: Wait) -> &'static str {
    match wait {
        Wait::Spin => "spin",
        Wait::Event => "event",
    }
}

fn print_row(args: &PerfArgs, row: &Row<'_>) {
    if args.json {
        out!("{}", row.json());
        return;
    }
    let fmt_ns = |ns: u64| if ns >= 10_000 { format!("{:.1}us", ns as f64 / 1000.0) } else { format!("{ns}ns") };
    let spread = format!("{:.0}%", row.spread * 100.0);
    if args.op == PerfOp::Nop {
        out!(
            "{:>8} {:>4} {:>3} {:>3} {:>12.0} {:>10} {:>10} {:>7}",
            "nop",
            row.qd,
            row.engines,
            row.threads,
            row.ops_per_s,
            fmt_ns(row.p50_ns),
            fmt_ns(row.p99_ns),
            spread
        );
    } else {
        out!(
            "{:>8} {:>4} {:>3} {:>3} {:>12.0} {:>10.1} {:>10} {:>10} {:>12.1} {:>8.2} {:>7}",
            human(row.size),
            row.qd,
            row.engines,
            row.threads,
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
        out!("# warning: the runs of this row differ by {:.0}%: the machine is busy, do not trust it", row.spread * 100.0);
    }
}

impl PerfArgs {
    /// Checks what clap cannot check alone; the message names the limit.
    pub fn validate(&self) -> Result<(), String> {
        let format = Format::from(self.format);
        if let Some(level) = self.level {
            if matches!(self.op, PerfOp::Compress | PerfOp::Decompress) && !format.levels().contains(&level) {
                let (lo, hi) = (*format.levels().start(), *format.levels().end());
                return Err(format!("level {level} is outside {format:?}'s levels {lo} to {hi}"));
            }
        }
        if self.op == PerfOp::Nop && self.size != parse_size_list(DEFAULT_SIZES) {
            return Err("--size does not apply to nop (it moves no data)".to_owned());
        }
        if let Some(path) = &self.plot {
            plot::prepare(path)?;
        }
        let crypto = matches!(self.op, PerfOp::Encrypt | PerfOp::Decrypt | PerfOp::Digest);
        match (self.alg, crypto) {
            (Some(alg), false) => return Err(format!("--alg {} applies to encrypt, decrypt and digest only", alg.name())),
            (Some(alg), true) if alg.is_cipher() != (self.op != PerfOp::Digest) => {
                let wanted = if self.op == PerfOp::Digest {
                    "a digest (sha256, hmac-sha256, crc32c)"
                } else {
                    "a cipher (aes-*-gcm, aes-*-xts)"
                };
                return Err(format!("--alg {}: {} takes {wanted}", alg.name(), op_name(self.op)));
            }
            _ => {}
        }
        if self.crypto_alg().is_some_and(CryptoAlg::is_xts) {
            let unit = self.data_unit;
            if !(16..=1 << 20).contains(&unit) {
                return Err(format!("--data-unit {unit} is outside 16 to 1m bytes"));
            }
            if let Some(size) = self.size.iter().find(|&&s| s == 0 || s % unit != 0) {
                return Err(format!("size {size} is not a whole number of {unit}-byte XTS data units"));
            }
        }
        if self.channel.contains(&channel::ChannelArg::Daemon) {
            if self.policy != Policy::Threads {
                return Err(
                    "--channel daemon needs --policy threads (a daemon's client cannot run work on its own threads)".to_owned()
                );
            }
            if self.engines.contains(&0) {
                return Err("--channel daemon needs 1 to 64 engines (a daemon runs work only on engine threads)".to_owned());
            }
        }
        if self.wait == Wait::Event && self.policy != Policy::Threads {
            return Err(
                "--wait event needs --policy threads (under inline and adaptive the posting thread runs the work, so it cannot sleep)"
                    .to_owned(),
            );
        }
        if self.engines.contains(&0) && self.policy == Policy::Threads {
            return Err("--engines 0 needs --policy inline or adaptive (no engine would run the work)".to_owned());
        }
        Ok(())
    }
}

const DEFAULT_SIZES: &str = "64,4k,64k,1m";

impl PerfArgs {
    /// The crypto algorithm in force: `--alg`, or the operation's default.
    fn crypto_alg(&self) -> Option<CryptoAlg> {
        match self.op {
            PerfOp::Encrypt | PerfOp::Decrypt => Some(self.alg.unwrap_or(CryptoAlg::Aes256Gcm)),
            PerfOp::Digest => Some(self.alg.unwrap_or(CryptoAlg::Sha256)),
            _ => None,
        }
    }
}

fn parse_size_list(list: &str) -> Vec<usize> {
    list.split(',').filter_map(|s| parse_size(s).ok()).collect()
}

/// What one point's repeats measured, all threads together.
struct Point {
    /// Per repeat: the device's ops/s summed over the threads.
    ops: Vec<f64>,
    /// Per repeat: the direct runs' input bytes/s summed over the threads.
    direct: Vec<f64>,
    latencies: Vec<u64>,
}

impl Rig {
    #[allow(clippy::too_many_arguments)] // One point's whole setup.
    fn new(
        ctx: &Context,
        pd: &Pd,
        workload: Option<&Workload>,
        crypto: Option<(CryptoAlg, bool, u32)>,
        size: usize,
        qd: u32,
        format: Format,
        level: i8,
        memory: channel::MemoryArg,
        wait: Wait,
    ) -> Result<Self, Error> {
        let depth = qd.max(64);
        let channel = match wait {
            Wait::Spin => None,
            Wait::Event => Some(ctx.create_comp_channel()?),
        };
        let cq = ctx.create_cq(depth * 2, channel.as_ref())?;
        let qp = pd.create_qp(&cq, QpInit::new(depth))?;
        let (mut input, mut output_room): (Vec<u8>, usize) = match workload {
            Some(w) => (w.input.clone(), w.output_room),
            None => ((0..size).map(|i| i as u8).collect(), size),
        };
        let crypto = match crypto {
            Some((alg, encrypt, unit)) => {
                let work = CryptoWork::new(pd, alg, encrypt, unit, &mut input)?;
                output_room = work.output_len(size);
                Some(work)
            }
            None => None,
        };
        let channel::Buffers { mut src, dst, pages } = channel::Buffers::new(pd, memory, input.len(), output_room)?;
        src.as_mut_slice()?[..input.len()].copy_from_slice(&input);
        Ok(Rig {
            cq,
            qp,
            channel,
            src,
            dst,
            _pages: pages,
            input_len: input.len() as u32,
            output_len: output_room as u32,
            format,
            level,
            last_byte_len: 0,
            last_wr_id: 0,
            crypto,
        })
    }
}

/// One thread's device samples and direct rates, per repeat.
type ThreadRuns = (Vec<Sample>, Vec<f64>);

/// Runs one point: `threads` threads, each on its own rig, `repeat` times a device run then a
/// direct run, the threads of each run side by side (a barrier starts them together).
fn measure(args: &PerfArgs, rigs: &mut [(Rig, Option<Workload>)], qd: u32, duration: Duration) -> Result<Point, Error> {
    let barrier = Barrier::new(rigs.len());
    let results: Vec<Result<ThreadRuns, Error>> = std::thread::scope(|s| {
        let handles: Vec<_> = rigs
            .iter_mut()
            .map(|(rig, workload)| {
                let barrier = &barrier;
                s.spawn(move || {
                    let mut samples = Vec::new();
                    let mut direct = Vec::new();
                    // Every thread reaches every barrier, whatever fails: the first error is
                    // kept and reported after the point.
                    let mut failed: Option<Error> = None;
                    barrier.wait();
                    if let Err(e) = run_device(rig, args.op, qd, duration / 4, args.verify) {
                        failed = Some(e);
                    }
                    for _ in 0..args.repeat {
                        barrier.wait();
                        if failed.is_none() {
                            match run_device(rig, args.op, qd, duration, args.verify) {
                                Ok(sample) => samples.push(sample),
                                Err(e) => failed = Some(e),
                            }
                        }
                        // Before the direct run, which writes the same destination.
                        if failed.is_none() && args.verify {
                            if let Err(e) = verify_output(rig, args.op, workload.as_mut()) {
                                failed = Some(e);
                            }
                        }
                        barrier.wait();
                        if failed.is_none() && args.op != PerfOp::Nop {
                            match run_direct(rig, workload.as_mut(), duration) {
                                Ok(rate) => direct.push(rate),
                                Err(e) => failed = Some(e),
                            }
                        }
                    }
                    failed.map_or(Ok((samples, direct)), Err)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err(Error::Protocol { op: "perf", detail: "a thread panicked" })))
            .collect()
    });
    let mut point =
        Point { ops: vec![0.0; args.repeat as usize], direct: vec![0.0; args.repeat as usize], latencies: Vec::new() };
    for result in results {
        let (samples, direct) = result?;
        for (i, sample) in samples.into_iter().enumerate() {
            point.ops[i] += sample.ops_per_s;
            point.latencies.extend(sample.latencies);
        }
        for (i, rate) in direct.into_iter().enumerate() {
            point.direct[i] += rate;
        }
    }
    Ok(point)
}

/// `--verify`: the device's last output in `rig` is what the operation must produce.
fn verify_output(rig: &mut Rig, op: PerfOp, workload: Option<&mut Workload>) -> Result<(), Error> {
    let wrong = |detail| Err(Error::Protocol { op: "perf --verify", detail });
    let src = &rig.src.as_slice()?[..rig.input_len as usize];
    let dst = rig.dst.as_slice()?;
    if let Some(work) = rig.crypto.as_mut() {
        let Some(expected) = work.expected(rig.last_wr_id, src, rig.output_len as usize)? else { return Ok(()) };
        return match dst[..expected.len()] == expected[..] {
            true => Ok(()),
            false => wrong("the device's output differs from the library's for the same request"),
        };
    }
    match (op, workload) {
        (PerfOp::Nop, _) => Ok(()),
        (PerfOp::Copy, _) if dst[..src.len()] != *src => wrong("a COPY's output differs from its input"),
        (PerfOp::Copy, _) => Ok(()),
        (_, None) => Ok(()),
        (PerfOp::Compress, Some(w)) => {
            let produced = rig.last_byte_len as usize;
            let mut plain = vec![0u8; src.len()];
            match w.decode(&dst[..produced], &mut plain) {
                Ok(n) if n == src.len() && plain == src => Ok(()),
                _ => wrong("the device's compressed output does not decode to the input"),
            }
        }
        (PerfOp::Encrypt | PerfOp::Decrypt | PerfOp::Digest, _) => Ok(()),
        (PerfOp::Decompress, Some(w)) => {
            let produced = rig.last_byte_len as usize;
            if dst[..produced] == *w.plain() {
                Ok(())
            } else {
                wrong("the device's decompressed output differs from the original data")
            }
        }
    }
}

pub fn run(args: &PerfArgs) -> Result<(), Error> {
    let policy = match args.policy {
        Policy::Threads => ExecPolicy::Threads,
        Policy::Inline => ExecPolicy::Inline,
        Policy::Adaptive => ExecPolicy::Adaptive,
    };
    let format = Format::from(args.format);
    let level = args.level.unwrap_or(format.default_level());
    let sizes = if args.op == PerfOp::Nop { vec![0] } else { args.size.clone() };
    let duration = Duration::from_secs_f64(args.seconds);
    let crypto_alg = args.crypto_alg();
    // As the command line says it.
    let op = op_name(args.op);
    let what = match crypto_alg {
        _ if matches!(args.op, PerfOp::Compress | PerfOp::Decompress) => format!("{op} {} level {level}", args.format.name()),
        Some(alg) if alg.is_xts() => format!("{op} {} data unit {}", alg.name(), args.data_unit),
        Some(alg) => format!("{op} {}", alg.name()),
        None => op.to_owned(),
    };
    let crypto = crypto_alg.map(|alg| (alg, args.op == PerfOp::Encrypt, args.data_unit as u32));
    let say = |line: String| {
        if !args.json {
            out!("{line}");
        }
    };
    say(format!(
        "# accel perf {what}: policy={} wait={} spin={}us; {} x {:.2}s per point, medians; spread = (max - min) / median of the device runs",
        policy_name(args.policy),
        wait_name(args.wait),
        args.spin_us,
        args.repeat,
        args.seconds
    ));
    say(format!("# cpu: {}", cpu_model()));
    say("# direct runs use the same registered buffers, alternated with the device runs".to_owned());
    if !args.json {
        let trip = core_to_core::round_trip_ns(Duration::from_millis(20));
        say(format!(
            "# core-to-core round trip: {} (a cache line between two threads, measured before each point; engine figures hinge on it)",
            trip.map_or("not measured (the other thread did not answer)".to_owned(), |ns| format!("{ns:.0} ns"))
        ));
    }
    let direct_name = if args.op == PerfOp::Copy { "memcpy" } else { "direct" };
    if args.op == PerfOp::Nop {
        say(format!(
            "{:>8} {:>4} {:>3} {:>3} {:>12} {:>10} {:>10} {:>7}",
            "op", "qd", "eng", "thr", "ops/s", "p50", "p99", "spread"
        ));
    } else {
        say(format!(
            "{:>8} {:>4} {:>3} {:>3} {:>12} {:>10} {:>10} {:>10} {:>12} {:>8} {:>7}",
            "size",
            "qd",
            "eng",
            "thr",
            "ops/s",
            "MB/s",
            "p50",
            "p99",
            format!("{direct_name} MB/s"),
            "ratio",
            "spread"
        ));
    }
    let mut plotted = Vec::new();
    let max_threads = args.threads.iter().copied().max().unwrap_or(1) as usize;
    let max_qd = args.qd.iter().copied().max().unwrap_or(1);
    let groups =
        args.channel.iter().flat_map(|&c| args.engines.iter().flat_map(move |&e| args.memory.iter().map(move |&m| (c, e, m))));
    for (channel, engines, memory) in groups {
        let spin = Duration::from_micros(args.spin_us);
        let (device, _daemon) = channel::device(channel, engines, spin).map_err(|message| {
            status::say(format_args!("accel perf: {message}"));
            Error::Protocol { op: "perf", detail: "no device on that channel" }
        })?;
        let ctx = device.open_with(ContextOptions { policy, ..ContextOptions::default() })?;
        // A daemon of ACCELVERBS_SOCKET has the engines it was started with.
        let engines = if channel == channel::ChannelArg::Daemon { ctx.query_device()?.num_engines as u16 } else { engines };
        if args.channel.len() > 1 || args.memory.len() > 1 {
            say(format!("# channel {} ({}), memory {}", channel.name(), ctx.channel_description(), memory.name()));
        }
        let pd = ctx.alloc_pd()?;
        for &size in &sizes {
            let workload = |direction| Workload::new(format, level, direction, size);
            let make = |_| -> Result<Option<Workload>, Error> {
                let w = match args.op {
                    PerfOp::Compress => Some(workload(Direction::Compress)),
                    // The data decompressed is what the library writes at that level.
                    PerfOp::Decompress => Some(workload(Direction::Decompress)),
                    _ => None,
                };
                w.transpose().map_err(|e| {
                    status::say(format_args!("accel perf: {e}"));
                    Error::Protocol { op: "perf", detail: "the library failed" }
                })
            };
            let mut rigs = Vec::with_capacity(max_threads);
            for t in 0..max_threads {
                let w = make(t)?;
                let rig = Rig::new(&ctx, &pd, w.as_ref(), crypto, size, max_qd, format, level, memory, args.wait)?;
                rigs.push((rig, w));
            }
            if args.op != PerfOp::Nop
                && size == sizes[0]
                && engines == args.engines[0]
                && channel == args.channel[0]
                && memory == args.memory[0]
            {
                let rig = &rigs[0].0;
                say(format!(
                    "# buffers: source at page offset {}, destination at {}",
                    rig.src.addr() % 4096,
                    rig.dst.addr() % 4096
                ));
            }
            if let Some(w) = rigs[0].1.as_ref() {
                say(format!("# {}: the data compresses {:.2}:1", human(size), size as f64 / w.packed_len().max(1) as f64));
            }
            for &qd in &args.qd {
                for &threads in &args.threads {
                    let core_to_core_ns = core_to_core::round_trip_ns(Duration::from_millis(20));
                    let point = measure(args, &mut rigs[..threads as usize], qd, duration)?;
                    let mut lat = point.latencies;
                    lat.sort_unstable();
                    let rig = &rigs[0].0;
                    // Throughput in bytes of input per second (plain bytes for decompression,
                    // so the two directions compare), MB = 10^6 bytes.
                    let per_op = if args.op == PerfOp::Decompress { size } else { rig.input_len as usize } as f64;
                    let ops = median(point.ops.clone());
                    let row = Row {
                        op: op_name(args.op),
                        format: matches!(args.op, PerfOp::Compress | PerfOp::Decompress).then_some(format),
                        alg: crypto_alg.map(CryptoAlg::name),
                        level: matches!(args.op, PerfOp::Compress | PerfOp::Decompress).then_some(level),
                        size,
                        qd,
                        engines,
                        threads,
                        policy: policy_name(args.policy),
                        wait: wait_name(args.wait),
                        channel: channel.name(),
                        memory: memory.name(),
                        ops_per_s: ops,
                        mb_per_s: ops * per_op / 1e6,
                        p50_ns: percentile(&lat, 0.50),
                        p99_ns: percentile(&lat, 0.99),
                        direct_mb_per_s: if args.op == PerfOp::Nop {
                            0.0
                        } else {
                            median(point.direct) * per_op / rig.input_len.max(1) as f64 / 1e6
                        },
                        spread: spread(&point.ops),
                        core_to_core_ns,
                    };
                    print_row(args, &row);
                    let nop = args.op == PerfOp::Nop;
                    plotted.push(plot::Point {
                        size,
                        qd,
                        engines,
                        threads,
                        throughput: if nop { row.ops_per_s } else { row.mb_per_s },
                        direct: row.direct_mb_per_s,
                        p50_us: row.p50_ns as f64 / 1000.0,
                    });
                }
            }
        }
    }
    if let Some(path) = &args.plot {
        let unit = if args.op == PerfOp::Nop { "ops/s" } else { "MB/s" };
        let drawn = plot::prepare(path)
            .and_then(|format| plot::draw(path, format, &format!("accel perf {what} ({})", cpu_model()), unit, &plotted));
        if let Err(message) = drawn {
            status::say(format_args!("accel perf: {message}"));
            return Err(Error::Protocol { op: "perf", detail: "the plot could not be written" });
        }
    }
    Ok(())
}
