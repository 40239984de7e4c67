//! Hostile clients of `accel-simd`: what one client does through the descriptors, memory and
//! messages it is given must not stop the device for the others, nor reach past what it owns.

use std::os::fd::AsRawFd;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use accelverbs::{Access, Context, Copy, QpInit};
use accelverbs_tests::daemon::Daemon;
use accelverbs_tests::poll_n;

/// Runs `work` on a thread and fails unless it returns within `secs` seconds: a call the
/// daemon never answers blocks for ever. On failure the daemon is killed first, so that the
/// stuck call and the test's own cleanup fail with `EIO` instead of hanging.
fn within_seconds(daemon: &Daemon, secs: u64, what: &str, work: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        work();
        let _ = done.send(());
    });
    let outcome = finished.recv_timeout(Duration::from_secs(secs));
    if outcome.is_err() {
        // SAFETY: kill takes no pointers; the pid is the daemon this test started.
        unsafe { libc::kill(daemon.pid() as libc::pid_t, libc::SIGKILL) };
    }
    match outcome {
        Ok(()) => {}
        Err(RecvTimeoutError::Timeout) => panic!("{what} did not finish within {secs} s: the daemon is stuck"),
        Err(RecvTimeoutError::Disconnected) => panic!("{what} failed: the daemon did not serve it"),
    }
}

/// One verified COPY on a fresh PD, CQ and QP of `ctx`: the device still serves this client.
fn copy_works(ctx: &Context) {
    let pd = ctx.alloc_pd().unwrap();
    let mut cq = ctx.create_cq(16, None).unwrap();
    let mut qp = pd.create_qp(&cq, QpInit::new(4)).unwrap();
    let mut src = pd.alloc_mr(4096, Access::empty()).unwrap();
    src.as_mut_slice().unwrap().iter_mut().enumerate().for_each(|(i, b)| *b = (i % 253) as u8);
    let mut dst = pd.alloc_mr(4096, Access::LOCAL_WRITE).unwrap();
    qp.post(Copy::new(1, src.slice(0, 4096), dst.slice_mut(0, 4096))).unwrap();
    let wc = poll_n(&mut cq, 1)[0];
    assert!(wc.is_success(), "{wc:?}");
    assert!(dst.as_slice().unwrap() == src.as_slice().unwrap(), "the copy came out corrupted");
}

/// Defect: a completion channel's descriptor was the device's own eventfd, so the client
/// shared its open file description. Clearing `O_NONBLOCK` on it and filling its count made
/// the engine's next event write block forever: every client's work stopped.
#[test]
fn a_client_cannot_block_the_engine_through_its_completion_channel() {
    let daemon = Daemon::start(&["--engines", "1"]);
    let ctx = daemon.device().open().unwrap();
    let channel = ctx.create_comp_channel().unwrap();
    let pd = ctx.alloc_pd().unwrap();
    let mut cq = ctx.create_cq(16, Some(&channel)).unwrap();
    let mut qp = pd.create_qp(&cq, QpInit::new(4)).unwrap();
    let src = pd.alloc_mr(64, Access::empty()).unwrap();
    let mut dst = pd.alloc_mr(64, Access::LOCAL_WRITE).unwrap();

    let fd = channel.as_raw_fd();
    // SAFETY: fcntl on a descriptor this process holds; no memory is passed.
    let status = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    assert!(status >= 0);
    // SAFETY: as above. Makes the descriptor's open file description blocking, which it
    // shares with whoever else holds it.
    assert_eq!(unsafe { libc::fcntl(fd, libc::F_SETFL, status & !libc::O_NONBLOCK) }, 0);
    // Whatever the descriptor is, writing to it must not be able to stall the device.
    let most: u64 = u64::MAX - 1;
    // SAFETY: writes 8 bytes from a live u64.
    let wrote = unsafe { libc::write(fd, (&most as *const u64).cast(), 8) };
    assert!(wrote == 8 || wrote < 0, "wrote {wrote}");

    cq.req_notify(false).unwrap();
    qp.post(Copy::new(1, src.slice(0, 64), dst.slice_mut(0, 64))).unwrap();
    assert!(poll_n(&mut cq, 1)[0].is_success());

    // Another client (another connection) on the same engine is still served.
    within_seconds(&daemon, 20, "another client's copy", {
        let device = daemon.device();
        move || copy_works(&device.open().unwrap())
    });
}
