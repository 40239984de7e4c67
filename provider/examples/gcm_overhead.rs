//! AES-256-GCM of 4 KiB through the device against its library (intel-ipsec-mb) called
//! directly on the same registered buffers, the same call the device makes (out of place, the
//! output and tag slots taken in turn), alternated for several rounds in one run; medians and
//! ratios. The device runs inline (the poster's thread) and through an engine thread, 32
//! requests deep.
//!
//!   cargo run --release -p accelverbs --example gcm_overhead [rounds] [seconds] [size] [inline|threads]
//!
//! The last argument runs one policy only (to profile it).

use std::time::{Duration, Instant};

use accelverbs::{devices, Access, ContextOptions, Encrypt, ExecPolicy, KeyAlgorithm, QpInit, WorkCompletion};
use accelverbs_rxe_sim::library::GcmKey;

const DEPTH: u32 = 32;

fn device_rate(policy: ExecPolicy, size: usize, seconds: f64) -> f64 {
    let ctx = devices()[0].open_with(ContextOptions { policy, ..ContextOptions::default() }).unwrap();
    let pd = ctx.alloc_pd().unwrap();
    let key = pd.create_crypto_key(KeyAlgorithm::Aes256Gcm, &[7; 32]).unwrap();
    let input = pd.alloc_mr(size, Access::empty()).unwrap();
    // One output and tag slot per request in flight, so requests never share bytes.
    let mut out = pd.alloc_mr(size * DEPTH as usize, Access::LOCAL_WRITE).unwrap();
    let mut tags = pd.alloc_mr(16 * DEPTH as usize, Access::LOCAL_WRITE).unwrap();
    let mut cq = ctx.create_cq(DEPTH * 2, None).unwrap();
    let mut qp = pd.create_qp(&cq, QpInit::new(DEPTH)).unwrap();
    let mut wc = [WorkCompletion::default(); 32];
    let (mut posted, mut done) = (0u64, 0u64);
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(seconds);
    // The clock is read once per 16 passes, as the library loop reads it once per 64 requests:
    // neither side pays a clock read per request.
    let mut passes = 0u64;
    while !passes.is_multiple_of(16) || Instant::now() < end {
        passes += 1;
        if posted - done < u64::from(DEPTH) {
            let mut batch = qp.batch();
            while posted - done < u64::from(DEPTH) {
                // Slot `posted % DEPTH` is free: the request that last used it completed.
                let slot = (posted % u64::from(DEPTH)) as usize;
                let iv = [(posted % 251) as u8; 12];
                let output = out.slice_mut(slot * size, size as u32);
                let tag = tags.slice_mut(slot * 16, 16);
                batch.push(Encrypt::new(posted, &key, iv, input.slice(0, size as u32), output, tag)).unwrap();
                posted += 1;
            }
            batch.ring();
        }
        let n = cq.poll(&mut wc);
        assert!(wc[..n].iter().all(WorkCompletion::is_success));
        done += n as u64;
    }
    let rate = done as f64 / start.elapsed().as_secs_f64();
    while done < posted {
        done += cq.poll(&mut wc) as u64;
    }
    rate
}

/// The library the device runs (intel-ipsec-mb, through the device's own `GcmKey`) called
/// directly, as the device calls it (out of place), over the same kind of registered buffers:
/// one input, the output and tag slots taken in turn as the device's requests take them.
fn library_rate(size: usize, seconds: f64) -> f64 {
    let pd = devices()[0].open().unwrap().alloc_pd().unwrap();
    let input = pd.alloc_mr(size, Access::empty()).unwrap();
    let mut out = pd.alloc_mr(size * DEPTH as usize, Access::LOCAL_WRITE).unwrap();
    let mut tags = pd.alloc_mr(16 * DEPTH as usize, Access::LOCAL_WRITE).unwrap();
    let (input, out, tags) = (input.as_slice().unwrap(), out.as_mut_slice().unwrap(), tags.as_mut_slice().unwrap());
    let key = GcmKey::new(&[7u8; 32]).expect("intel-ipsec-mb set up");
    let (mut n, start) = (0u64, Instant::now());
    let end = start + Duration::from_secs_f64(seconds);
    while Instant::now() < end {
        for _ in 0..64 {
            let slot = (n % u64::from(DEPTH)) as usize;
            let nonce = [(n % 251) as u8; 12];
            // SAFETY: every pointer is a live slice of the stated length; output and tag do
            // not overlap the input or each other.
            let ok = unsafe {
                key.seal(&nonce, &[], input.as_ptr(), out[slot * size..].as_mut_ptr(), size, tags[slot * 16..].as_mut_ptr())
            };
            assert!(ok);
            n += 1;
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map_or(5, |a| a.parse().expect("rounds: a count"));
    let seconds: f64 = args.next().map_or(1.0, |a| a.parse().expect("seconds: a number"));
    let size: usize = args.next().map_or(4096, |a| a.parse().expect("size: bytes"));
    println!("AES-256-GCM of {size} B, {rounds} alternating rounds of {seconds} s, device {DEPTH} deep");
    println!("{:<8} {:>12} {:>12} {:>8} {:>10}", "policy", "library/s", "device/s", "ratio", "device MB/s");
    let only = args.next();
    let policies = [(ExecPolicy::Inline, "inline"), (ExecPolicy::Threads, "threads")];
    for (policy, name) in policies.into_iter().filter(|(_, name)| only.as_deref().is_none_or(|o| o == *name)) {
        let (mut lib, mut dev, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let l = library_rate(size, seconds);
            let d = device_rate(policy, size, seconds);
            ratios.push(d / l);
            lib.push(l);
            dev.push(d);
        }
        let (lo, hi) = ratios.iter().fold((f64::MAX, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        let d = median(dev);
        println!(
            "{name:<8} {:>12.0} {:>12.0} {:>8.2} {:>10.0}   (ratio per round {lo:.2}–{hi:.2})",
            median(lib),
            d,
            median(ratios),
            d * size as f64 / 1e6
        );
    }
}
