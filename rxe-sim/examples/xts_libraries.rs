//! Which library runs AES-XTS: OpenSSL 3 (Debian's libcrypto) and aws-lc, both key sizes where
//! they have them, the way the device calls them (a context prepared with the key once; per
//! request a copy, the tweak, one update over one data unit). Alternated rounds; medians.
//!
//!   cargo run --release -p accelverbs-rxe-sim --example xts_libraries [rounds]

use std::time::Instant;

/// One library's EVP calls, as a closure per request over a prepared context.
macro_rules! per_request {
    ($sys:path, $cipher:ident, $key:expr) => {{
        use $sys as sys;
        // SAFETY: a fresh context set up with a static cipher and `$key` (the right length).
        let prepared = unsafe {
            let ctx = sys::EVP_CIPHER_CTX_new();
            assert_eq!(sys::EVP_CipherInit_ex(ctx, sys::$cipher(), std::ptr::null_mut(), $key.as_ptr(), std::ptr::null(), 1), 1);
            ctx
        };
        move |tweak: &[u8; 16], input: &[u8], output: &mut [u8]| {
            let mut written = 0;
            // SAFETY: a copy of the prepared context, freed here; `input` and `output` are live
            // and of the same length.
            unsafe {
                let ctx = sys::EVP_CIPHER_CTX_new();
                sys::EVP_CIPHER_CTX_copy(ctx, prepared);
                sys::EVP_CipherInit_ex(ctx, std::ptr::null(), std::ptr::null_mut(), std::ptr::null(), tweak.as_ptr(), -1);
                sys::EVP_CipherUpdate(ctx, output.as_mut_ptr(), &mut written, input.as_ptr(), input.len() as i32);
                sys::EVP_CIPHER_CTX_free(ctx);
            }
            assert_eq!(written as usize, input.len());
        }
    }};
}

/// One request: a data unit's tweak, input and output.
type Request = dyn FnMut(&[u8; 16], &[u8], &mut [u8]);

/// MB/s of `run` over 0.2 s.
fn rate(run: &mut Request, input: &[u8], output: &mut [u8]) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < 0.2 {
        run(&[n as u8; 16], input, output);
        n += 1;
    }
    (n as f64 * input.len() as f64) / start.elapsed().as_secs_f64() / 1e6
}

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(5).max(1);
    let key: Vec<u8> = (1..=64u8).collect();
    let mut candidates: Vec<(&str, Box<Request>)> = vec![
        ("AES-128-XTS OpenSSL", Box::new(per_request!(openssl_sys, EVP_aes_128_xts, &key[..32]))),
        ("AES-256-XTS OpenSSL", Box::new(per_request!(openssl_sys, EVP_aes_256_xts, &key))),
        ("AES-256-XTS aws-lc", Box::new(per_request!(aws_lc_sys, EVP_aes_256_xts, &key))),
    ];
    println!("AES-XTS, one data unit per request, {rounds} alternated rounds of 0.2 s; MB/s median (min-max)");
    for size in [512usize, 4096, 65536] {
        let input = vec![7u8; size];
        let mut output = vec![0u8; size];
        let mut rates = vec![Vec::new(); candidates.len()];
        for _ in 0..rounds {
            for (i, (_, run)) in candidates.iter_mut().enumerate() {
                rates[i].push(rate(run.as_mut(), &input, &mut output));
            }
        }
        for ((name, _), mut r) in candidates.iter().zip(rates) {
            r.sort_by(f64::total_cmp);
            println!("{size:>6} B  {name:<20} {:>7.0}  ({:.0}-{:.0})", r[r.len() / 2], r[0], r[r.len() - 1]);
        }
    }
}
