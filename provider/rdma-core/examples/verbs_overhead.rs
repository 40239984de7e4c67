//! What the plugin adds per work request: the same loop (zero-length RDMA writes, kept 32
//! deep, posted 8 at a time, polled 8 at a time) through the Rust API in this process and
//! through libibverbs and the plugin (`examples/c/post_rate.c` under accel-run), alternated
//! for several rounds in one run; medians and their ratio.
//!
//!   cargo build --release -p accelverbs-rdma-core && \
//!   cargo run --release -p accelverbs-rdma-core --example verbs_overhead [rounds] [seconds]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use accelverbs::{ContextOptions, ExecPolicy, QpInit, RdmaWrite, Sge, WorkCompletion};

const DEPTH: u32 = 32;
const BATCH: usize = 8;

fn rust_api_rate(policy: ExecPolicy, seconds: f64) -> f64 {
    let ctx = accelverbs::devices()[0].open_with(ContextOptions { policy, ..ContextOptions::default() }).unwrap();
    let pd = ctx.alloc_pd().unwrap();
    let mut cq = ctx.create_cq(DEPTH, None).unwrap();
    let mut qp = pd.create_qp(&cq, QpInit::new(DEPTH)).unwrap();
    let mut wc = [WorkCompletion::default(); BATCH];
    let (mut posted, mut done) = (0u64, 0u64);
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(seconds);
    loop {
        while posted - done + BATCH as u64 <= u64::from(DEPTH) {
            let mut batch = qp.batch();
            for i in 0..BATCH as u64 {
                // SAFETY: a zero-length transfer names no memory.
                batch.push(unsafe { RdmaWrite::from_sges(posted + i, Sge::default(), Sge::default()) }).unwrap();
            }
            batch.ring();
            posted += BATCH as u64;
        }
        let n = cq.poll(&mut wc);
        assert!(wc[..n].iter().all(WorkCompletion::is_success));
        done += n as u64;
        if done % 1024 < n as u64 && Instant::now() >= end {
            break;
        }
    }
    let rate = done as f64 / start.elapsed().as_secs_f64();
    while done < posted {
        done += cq.poll(&mut wc) as u64;
    }
    rate
}

fn verbs_rate(program: &Path, policy: &str, seconds: f64) -> f64 {
    let accel_run = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("accel-run");
    let out = Command::new(&accel_run)
        .env("ACCELVERBS_EXEC", policy)
        .arg(program)
        .args([seconds.to_string(), DEPTH.to_string(), BATCH.to_string()])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (build it: cargo build --release -p accelverbs-rdma-core)", accel_run.display()));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    text.trim().strip_prefix("ops_per_s=").and_then(|r| r.parse().ok()).unwrap_or_else(|| panic!("unexpected output: {text}"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map_or(5, |a| a.parse().expect("rounds: a count"));
    let seconds: f64 = args.next().map_or(1.0, |a| a.parse().expect("seconds: a number"));
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/c/post_rate.c");
    let program = std::env::temp_dir().join(format!("post_rate-{}", std::process::id()));
    let cc = Command::new("cc").args(["-O2", "-o"]).arg(&program).arg(&source).arg("-libverbs").status().unwrap();
    assert!(cc.success(), "compiling {}", source.display());
    println!("zero-length RDMA_WRITE, depth {DEPTH}, batches of {BATCH}, {rounds} alternating rounds of {seconds} s");
    println!("{:<8} {:>14} {:>14} {:>8}", "policy", "Rust API op/s", "verbs op/s", "ratio");
    for (policy, name) in [(ExecPolicy::Inline, "inline"), (ExecPolicy::Threads, "threads")] {
        let (mut rust, mut verbs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let r = rust_api_rate(policy, seconds);
            let v = verbs_rate(&program, name, seconds);
            ratios.push(v / r);
            rust.push(r);
            verbs.push(v);
        }
        let spread = |v: &[f64]| {
            let (lo, hi) = v.iter().fold((f64::MAX, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
            format!("{:.2}–{:.2}", lo, hi)
        };
        println!(
            "{name:<8} {:>14.0} {:>14.0} {:>8.2}   (ratio per round {})",
            median(rust),
            median(verbs),
            median(ratios.clone()),
            spread(&ratios)
        );
    }
    let _ = std::fs::remove_file(program);
}
