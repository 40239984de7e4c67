//! Shared fixtures for the end-to-end tests, built like rdma-core's pyverbs fixtures: base
//! resources (context, PD), then traffic resources (CQ, QP, MRs).

pub mod daemon;
pub mod engine_threads;
pub mod headers;
pub mod memory_scan;
pub mod openssl;
pub mod raw;
pub mod stock;

use accelverbs::{
    Access, Context, ContextOptions, Cq, Device, ExecPolicy, MemoryRegion, Pd, Qp, QpInit, SimConfig, WorkCompletion,
};
use std::time::{Duration, Instant};

/// A private soft device, so tests do not share engines or counters: in-process, or when the
/// suite runs on the daemon channel (`ACCELVERBS_SOCKET` set, `tests/daemon_suite.sh`) a daemon
/// of its own (at least one engine: a daemon runs work only on engines).
pub fn device(engines: usize) -> Device {
    if on_daemon() {
        return daemon::private_device(engines);
    }
    Device::embedded(SimConfig { engines, ..SimConfig::default() })
}

/// For a test that needs the embedded device: true (and a line saying why) on the daemon
/// channel, where the test then returns without running. Every use names what the daemon lacks.
pub fn embedded_only(why: &str) -> bool {
    let skip = on_daemon();
    if skip {
        eprintln!("skipped on the daemon channel: {why}");
    }
    skip
}

/// Whether the suite runs on the daemon channel.
pub fn on_daemon() -> bool {
    std::env::var_os(accelverbs::uapi::daemon::SOCKET_ENV).is_some_and(|p| !p.is_empty())
}

/// Context + PD.
#[derive(Debug)]
pub struct Base {
    pub device: Device,
    pub ctx: Context,
    pub pd: Pd,
}

impl Base {
    pub fn new(engines: usize, policy: ExecPolicy) -> Self {
        let device = device(engines);
        let ctx = device.open_with(ContextOptions { policy, ..ContextOptions::default() }).expect("open context");
        let pd = ctx.alloc_pd().expect("alloc_pd");
        Self { device, ctx, pd }
    }
}

/// Base + CQ + QP in RTS.
#[derive(Debug)]
pub struct Traffic {
    pub base: Base,
    pub cq: Cq,
    pub qp: Qp,
}

impl Traffic {
    pub fn new(engines: usize, policy: ExecPolicy, depth: u32) -> Self {
        let base = Base::new(engines, policy);
        let cq = base.ctx.create_cq(depth * 2, None).expect("create_cq");
        let qp = base.pd.create_qp(&cq, QpInit::new(depth)).expect("create_qp");
        Self { base, cq, qp }
    }

    pub fn mr(&self, len: usize, access: Access) -> MemoryRegion {
        self.base.pd.alloc_mr(len, access).expect("alloc_mr")
    }
}

/// Polls `cq` until `n` completions arrived or 10 s passed (then panics: a lost completion).
pub fn poll_n(cq: &mut Cq, n: usize) -> Vec<WorkCompletion> {
    let mut out = Vec::with_capacity(n);
    let mut wc = [WorkCompletion::default(); 64];
    let deadline = Instant::now() + Duration::from_secs(10);
    while out.len() < n {
        let want = (n - out.len()).min(wc.len());
        let got = cq.poll(&mut wc[..want]);
        out.extend_from_slice(&wc[..got]);
        if got == 0 {
            assert!(Instant::now() < deadline, "timed out with {} of {n} completions", out.len());
            std::thread::yield_now();
        }
    }
    out
}

/// Polls for a while and asserts nothing more arrives.
pub fn assert_no_more(cq: &mut Cq) {
    let mut wc = [WorkCompletion::default(); 4];
    let deadline = Instant::now() + Duration::from_millis(50);
    while Instant::now() < deadline {
        assert_eq!(cq.poll(&mut wc), 0, "unexpected completion {:?}", wc[0]);
    }
}

/// `base` rounds of a race test, times `ACCELVERBS_STRESS` (default 1): the soak script
/// (`tests/soak.sh`) raises it to run the races long in release builds.
pub fn stress_rounds(base: u64) -> u64 {
    let factor = std::env::var("ACCELVERBS_STRESS").ok().and_then(|v| v.parse().ok()).unwrap_or(1u64);
    base * factor.max(1)
}

/// Deterministic choices for the tests that generate their cases (xorshift64*): the same seed,
/// the same cases, so a failure reruns as it failed.
#[derive(Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// In `0..n` (0 for an `n` of 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// An index into `weights`, chosen in proportion to them.
    pub fn pick(&mut self, weights: &[u64]) -> usize {
        let mut at = self.below(weights.iter().sum());
        for (i, &w) in weights.iter().enumerate() {
            if at < w {
                return i;
            }
            at -= w;
        }
        unreachable!("a pick below the weights' sum falls inside one")
    }
}

/// Deterministic pseudo-random bytes (xorshift64*), for payloads and garbage.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// Clears `CAP_IPC_LOCK` from this thread's effective set, so `mlock` obeys the limit as it
/// does for an unprivileged process.
pub fn drop_cap_ipc_lock() {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Default, Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    const CAP_IPC_LOCK: u32 = 14;
    let mut header = Header { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    let mut data = [Data::default(); 2];
    // SAFETY: capget/capset read and write exactly a v3 header and two data structs, which
    // live across the calls.
    unsafe {
        assert_eq!(libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()), 0);
        data[0].effective &= !(1 << CAP_IPC_LOCK);
        assert_eq!(libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()), 0);
    }
}
