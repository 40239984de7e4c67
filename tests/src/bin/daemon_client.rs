//! A second client process for the daemon tests (`tests/tests/daemon.rs`): it opens the device
//! named by `ACCELVERBS_SOCKET`, creates objects, prints what names them, then does what its
//! argument says:
//!
//! - `hold`: keeps them and answers commands on stdin, one line each: `untouched` answers
//!   whether the destination region is still all zero, `copy` runs one verified COPY and
//!   answers `ok` (or the failure). End of stdin ends it.
//! - `busy`: posts a queue of 1 MiB COPYs it never polls, answers `posted`, and waits to be
//!   killed.
//! - `memlock`: drops `CAP_IPC_LOCK`, lowers its `RLIMIT_MEMLOCK` to 1 MiB, then registers
//!   2 MiB and 256 KiB, answering each with `ok` or `errno N: message`.
//! - `exec`: connects by hand, forks a child that keeps the connection, and execs `sleep`; the
//!   child says `exec'd` once the parent runs `sleep`, then sends one ioctl whose header address
//!   it reads on stdin and answers `errno N`.

use std::io::{BufRead, Write};

use accelverbs::{devices, Access, Copy, KeyAlgorithm, QpInit, WorkCompletion};

const LEN: usize = 1 << 20;

/// The `exec` mode (before any thread exists, so the fork is plain).
fn exec_attack() -> ! {
    use accelverbs::uapi::daemon::transport;
    use accelverbs::uapi::daemon::{DaemonMsg, MsgKind};
    use accelverbs::uapi::ioctl::RDMA_VERBS_IOCTL;
    use std::os::fd::AsFd;
    use std::os::unix::process::CommandExt;

    let path = std::env::var_os(accelverbs::uapi::daemon::SOCKET_ENV).expect("ACCELVERBS_SOCKET");
    let socket = accelverbs_tests::daemon::raw_connection(std::path::Path::new(&path));
    let parent = std::process::id();
    // SAFETY: this process has one thread; the child goes on with a copy of it.
    if unsafe { libc::fork() } != 0 {
        let err = std::process::Command::new("sleep").arg("60").exec();
        panic!("exec sleep: {err}");
    }
    // The child: wait until the parent runs sleep, then let the test pick an address in it.
    while std::fs::read_to_string(format!("/proc/{parent}/comm")).map_or(true, |c| c.trim() != "sleep") {
        std::thread::yield_now();
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "exec'd").unwrap();
    out.flush().unwrap();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).unwrap();
    let addr: u64 = line.trim().parse().expect("an address");
    transport::send(socket.as_fd(), &DaemonMsg::new(MsgKind::Ioctl, u64::from(RDMA_VERBS_IOCTL), addr), None).unwrap();
    let (done, _) = transport::recv(socket.as_fd()).unwrap();
    writeln!(out, "errno {}", done.errno).unwrap();
    out.flush().unwrap();
    std::process::exit(0);
}

/// The `memlock` mode: a process the kernel would hold to a 1 MiB locked-memory limit.
fn memlock() {
    accelverbs_tests::drop_cap_ipc_lock();
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit write and read one rlimit we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit), 0);
        limit.rlim_cur = limit.rlim_max.min(1 << 20);
        assert_eq!(libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit), 0);
    }
    let ctx = devices()[0].open().expect("open the daemon's device");
    let pd = ctx.alloc_pd().expect("alloc_pd");
    let mut out = std::io::stdout().lock();
    for len in [2 << 20, 256 << 10] {
        match pd.alloc_mr(len, Access::LOCAL_WRITE) {
            Ok(_) => writeln!(out, "ok").unwrap(),
            Err(e) => writeln!(out, "errno {}: {e}", e.errno().unwrap_or(0)).unwrap(),
        }
    }
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    if mode == "exec" {
        exec_attack();
    }
    if mode == "memlock" {
        return memlock();
    }
    let ctx = devices()[0].open().expect("open the daemon's device");
    let pd = ctx.alloc_pd().expect("alloc_pd");
    let mut cq = ctx.create_cq(256, None).expect("create_cq");
    let mut qp = pd.create_qp(&cq, QpInit::new(128)).expect("create_qp");
    let mut src = pd.alloc_mr(LEN, Access::empty()).expect("alloc_mr");
    let mut dst = pd.alloc_mr(LEN, Access::LOCAL_WRITE).expect("alloc_mr");
    src.as_mut_slice().unwrap().iter_mut().enumerate().for_each(|(i, b)| *b = (i % 251) as u8);
    let key = pd.create_crypto_key(KeyAlgorithm::Aes256Gcm, &[7u8; 32]).expect("create_crypto_key");
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "src_addr={} src_lkey={} dst_addr={} dst_lkey={} mr_handle={} key={} pd_handle={}",
        src.addr(),
        src.lkey(),
        dst.addr(),
        dst.lkey(),
        dst.handle(),
        key.number(),
        pd.handle()
    )
    .unwrap();
    out.flush().unwrap();

    match mode.as_str() {
        "hold" => {
            let mut wc = [WorkCompletion::default(); 1];
            for (n, line) in std::io::stdin().lock().lines().enumerate() {
                let answer = match line.unwrap().as_str() {
                    "untouched" => dst.as_slice().unwrap().iter().all(|&b| b == 0).to_string(),
                    "copy" => {
                        qp.post(Copy::new(n as u64, src.slice(0, LEN as u32), dst.slice_mut(0, LEN as u32))).unwrap();
                        while cq.poll(&mut wc) == 0 {}
                        let same = dst.as_slice().unwrap() == src.as_slice().unwrap();
                        let answer =
                            if wc[0].is_success() && same { "ok".to_owned() } else { format!("failed {:?} same={same}", wc[0]) };
                        dst.as_mut_slice().unwrap().fill(0);
                        answer
                    }
                    other => format!("unknown command {other:?}"),
                };
                writeln!(out, "{answer}").unwrap();
                out.flush().unwrap();
            }
        }
        "busy" => {
            let mut batch = qp.batch();
            for i in 0..128 {
                // SAFETY: nothing reads or writes the regions again: the process is killed
                // with these requests in flight.
                let copy = unsafe { Copy::from_sges(i, src.sge(0, LEN as u32), dst.sge(0, LEN as u32)) };
                if batch.push(copy).is_err() {
                    break;
                }
            }
            batch.ring();
            writeln!(out, "posted").unwrap();
            out.flush().unwrap();
            loop {
                std::thread::park();
            }
        }
        other => panic!("unknown mode {other:?}: hold, busy or exec"),
    }
}
