//! Which library runs AES-GCM: aws-lc (its fastest call, the one-shot `EVP_AEAD_CTX` over a
//! context prepared once, as aws-lc-rs uses it) and intel-ipsec-mb (the device's `GcmKey`: a
//! key schedule prepared once, one direct call per request), sealing out of place, both key
//! sizes, at the sizes the benchmarks use. Alternated rounds; medians.
//!
//!   cargo run --release -p accelverbs-rxe-sim --example gcm_libraries [rounds]

use std::time::Instant;

use accelverbs_rxe_sim::library::GcmKey;
use aws_lc_sys as sys;

/// One request: a nonce, input, output and tag.
type Request = dyn FnMut(&[u8; 12], &[u8], &mut [u8], &mut [u8; 16]);

fn aws_lc(key: &[u8]) -> Box<Request> {
    // SAFETY: static algorithm descriptions; the key is as long as the algorithm's.
    let ctx = unsafe {
        let aead = if key.len() == 16 { sys::EVP_aead_aes_128_gcm() } else { sys::EVP_aead_aes_256_gcm() };
        sys::EVP_AEAD_CTX_new(aead, key.as_ptr(), key.len(), 16)
    };
    assert!(!ctx.is_null());
    Box::new(move |nonce, input, output, tag| {
        let mut tag_len = 0;
        // SAFETY: live, disjoint buffers of the lengths given; the context is live (leaked).
        let ok = unsafe {
            sys::EVP_AEAD_CTX_seal_scatter(
                ctx,
                output.as_mut_ptr(),
                tag.as_mut_ptr(),
                &mut tag_len,
                16,
                nonce.as_ptr(),
                12,
                input.as_ptr(),
                input.len(),
                std::ptr::null(),
                0,
                std::ptr::null(),
                0,
            )
        };
        assert_eq!(ok, 1);
    })
}

fn ipsec_mb(key: &[u8]) -> Box<Request> {
    let key = GcmKey::new(key).expect("intel-ipsec-mb set up");
    Box::new(move |nonce, input, output, tag| {
        // SAFETY: live, disjoint buffers of the lengths given.
        assert!(unsafe { key.seal(nonce, &[], input.as_ptr(), output.as_mut_ptr(), input.len(), tag.as_mut_ptr()) });
    })
}

/// MB/s of `run` over 0.2 s.
fn rate(run: &mut Request, input: &[u8], output: &mut [u8]) -> f64 {
    let mut tag = [0u8; 16];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < 0.2 {
        for _ in 0..16 {
            run(&[n as u8; 12], input, output, &mut tag);
            n += 1;
        }
    }
    (n as f64 * input.len() as f64) / start.elapsed().as_secs_f64() / 1e6
}

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(5).max(1);
    let key: Vec<u8> = (1..=32u8).collect();
    let mut candidates: Vec<(&str, Box<Request>)> = vec![
        ("AES-128-GCM aws-lc", aws_lc(&key[..16])),
        ("AES-128-GCM ipsec-mb", ipsec_mb(&key[..16])),
        ("AES-256-GCM aws-lc", aws_lc(&key)),
        ("AES-256-GCM ipsec-mb", ipsec_mb(&key)),
    ];
    println!("AES-GCM sealing, {rounds} alternated rounds of 0.2 s; MB/s median (min-max), ns per request");
    for size in [16usize, 4096, 65536] {
        // Page-aligned buffers, as registered memory is.
        let mut buffers = vec![0u8; 2 * size + 8192];
        let offset = buffers.as_ptr().align_offset(4096);
        let (input, output) = buffers[offset..offset + 2 * size + 4096].split_at_mut(size + 4096);
        let (input, output) = (&input[..size], &mut output[..size]);
        let mut rates = vec![Vec::new(); candidates.len()];
        for _ in 0..rounds {
            for (i, (_, run)) in candidates.iter_mut().enumerate() {
                rates[i].push(rate(run.as_mut(), input, output));
            }
        }
        for ((name, _), mut r) in candidates.iter().zip(rates) {
            r.sort_by(f64::total_cmp);
            let median = r[r.len() / 2];
            println!(
                "{size:>6} B  {name:<22} {median:>7.0}  ({:.0}-{:.0})  {:>6.0} ns",
                r[0],
                r[r.len() - 1],
                size as f64 / median * 1e3
            );
        }
    }
}
