//! The device shared by processes through `accel-simd`: each client sees only its own objects,
//! keys and memory; a client killed with work in flight gives back everything it held while the
//! others carry on; limits are per client.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use accelverbs::ioctl::Command as Ioctl;
use accelverbs::uapi::crypto::CryptoParams;
use accelverbs::uapi::ids::{crypto_key, mr, object, pd};
use accelverbs::uapi::wqe::{flags, Opcode, Wqe};
use accelverbs::{
    Access, AsyncEvent, AsyncEventType, Context, Copy, Cq, CqeStatus, MemoryRegion, Pd, Qp, QpInit, QpState, RawWqe, Sge,
};
use accelverbs_tests::daemon::{workspace_binary, Daemon};
use accelverbs_tests::poll_n;
use accelverbs_tests::raw::RawFile;
use zerocopy::IntoBytes;

/// Another process using the daemon (`tests/src/bin/daemon_client.rs`).
struct OtherClient {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    names: HashMap<String, u64>,
}

impl OtherClient {
    fn start(daemon: &Daemon, mode: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_daemon_client"))
            .arg(mode)
            .env(accelverbs::uapi::daemon::SOCKET_ENV, &daemon.socket)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start daemon_client");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let names = line
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.parse().expect("a number")))
            .collect::<HashMap<_, _>>();
        assert!(names.contains_key("src_lkey"), "the client said {line:?}");
        Self { child, stdin, stdout, names }
    }

    fn name(&self, what: &str) -> u64 {
        self.names[what]
    }

    fn ask(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdout.read_line_trimmed()
    }
}

trait ReadLineTrimmed {
    fn read_line_trimmed(&mut self) -> String;
}

impl<R: BufRead> ReadLineTrimmed for R {
    fn read_line_trimmed(&mut self) -> String {
        let mut line = String::new();
        self.read_line(&mut line).unwrap();
        line.trim().to_owned()
    }
}

impl Drop for OtherClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// This process's client: a QP in RTS with its CQ.
struct Client {
    ctx: Context,
    pd: Pd,
    cq: Cq,
    qp: Qp,
}

impl Client {
    fn new(daemon: &Daemon) -> Self {
        let ctx = daemon.device().open().expect("open through the daemon");
        let pd = ctx.alloc_pd().unwrap();
        let cq = ctx.create_cq(64, None).unwrap();
        let qp = pd.create_qp(&cq, QpInit::new(16)).unwrap();
        Self { ctx, pd, cq, qp }
    }

    /// Brings the QP back from the error state.
    fn reset(&mut self) {
        for s in [QpState::Reset, QpState::Init, QpState::Rtr, QpState::Rts] {
            self.qp.modify(s).unwrap();
        }
    }

    /// One COPY of `src` into `dst`, checked byte for byte.
    fn verified_copy(&mut self, src: &MemoryRegion, dst: &mut MemoryRegion, wr_id: u64) {
        let len = src.len() as u32;
        self.qp.post(Copy::new(wr_id, src.slice(0, len), dst.slice_mut(0, len))).unwrap();
        let wc = poll_n(&mut self.cq, 1)[0];
        assert!(wc.is_success(), "{wc:?}");
        assert!(dst.as_slice().unwrap() == src.as_slice().unwrap(), "copy {wr_id} came out corrupted");
        dst.as_mut_slice().unwrap().fill(0);
    }
}

fn pattern_mr(pd: &Pd, len: usize, seed: u8) -> MemoryRegion {
    let mut mr = pd.alloc_mr(len, Access::empty()).unwrap();
    mr.as_mut_slice().unwrap().iter_mut().enumerate().for_each(|(i, b)| *b = (i as u8).wrapping_mul(seed) ^ seed);
    mr
}

#[test]
fn two_clients_copy_at_once_and_neither_can_use_the_others_keys_or_objects() {
    let daemon = Daemon::start(&[]);
    let mut other = OtherClient::start(&daemon, "hold");
    let mut me = Client::new(&daemon);
    let src = pattern_mr(&me.pd, 4096, 3);
    let mut dst = me.pd.alloc_mr(4096, Access::LOCAL_WRITE).unwrap();

    // Both work at once.
    me.verified_copy(&src, &mut dst, 1);
    assert_eq!(other.ask("copy"), "ok");

    // The other's lkey, at the other's address, as a source: refused, nothing read into ours.
    let theirs = |addr: &str, lkey: &str| Sge { addr: other.name(addr), length: 64, lkey: other.name(lkey) as u32 };
    let (their_src, their_dst) = (theirs("src_addr", "src_lkey"), theirs("dst_addr", "dst_lkey"));
    for (wr_id, from, to) in [(2, their_src, dst.sge(0, 64)), (3, src.sge(0, 64), their_dst)] {
        // SAFETY: the device refuses the request; no reference to `dst` is used before its
        // completion is polled.
        me.qp.post(unsafe { Copy::from_sges(wr_id, from, to) }).unwrap();
        let wc = poll_n(&mut me.cq, 1)[0];
        assert_eq!((wc.wr_id, wc.status), (wr_id, CqeStatus::LocalProtectionError), "{wc:?}");
        assert_eq!(me.qp.query_state().unwrap(), QpState::Err, "a protection error stops the QP");
        me.reset();
    }
    assert!(dst.as_slice().unwrap().iter().all(|&b| b == 0), "nothing of the other client's was read");
    assert_eq!(other.ask("untouched"), "true", "nothing was written into the other client's region");

    // The other's crypto key, by number, in a raw ENCRYPT: refused as a key of another PD.
    let out = me.pd.alloc_mr(128, Access::LOCAL_WRITE).unwrap();
    let mut wqe = Wqe::default();
    wqe.ctrl.opcode = Opcode::Encrypt as u8;
    wqe.ctrl.flags = flags::SIGNALED;
    wqe.params.copy_from_slice(CryptoParams { key: other.name("key") as u32, ..CryptoParams::default() }.as_bytes());
    wqe.src = src.sge(0, 64);
    wqe.dst = out.sge(0, 64);
    wqe.aux[1] = out.sge(64, 16);
    // SAFETY: the device refuses the request before touching memory; no reference to `out`
    // is used before the completion is polled.
    me.qp.post(unsafe { RawWqe::new(wqe) }).unwrap();
    let wc = poll_n(&mut me.cq, 1)[0];
    assert_eq!(wc.status, CqeStatus::LocalProtectionError, "{wc:?}");
    assert!(out.as_slice().unwrap().iter().all(|&b| b == 0));
    me.reset();

    // The other's handle numbers, on a file of ours with a context and nothing else: they name
    // nothing here.
    let file = RawFile::new(daemon.device().open_channel().unwrap());
    file.get_context().unwrap();
    let destroy = |object_id, method, attr, handle: u64| {
        let mut c = Ioctl::new(object_id, method);
        c.handle(attr, handle as u32);
        file.call(&mut c)
    };
    assert_eq!(destroy(object::MR, mr::METHOD_DESTROY, mr::ATTR_DESTROY_HANDLE, other.name("mr_handle")), Err(libc::ENOENT));
    assert_eq!(destroy(object::PD, pd::METHOD_DESTROY, pd::ATTR_DESTROY_HANDLE, other.name("pd_handle")), Err(libc::ENOENT));
    assert_eq!(destroy(object::CRYPTO_KEY, crypto_key::METHOD_DESTROY, crypto_key::ATTR_HANDLE, 0), Err(libc::ENOENT));

    // Everything of both still works.
    assert_eq!(other.ask("copy"), "ok");
    me.verified_copy(&src, &mut dst, 4);
    let files = me.ctx.device_files().unwrap();
    let pids: Vec<u32> = files.iter().map(|f| f.pid).collect();
    assert_eq!(pids.first(), Some(&std::process::id()), "the caller's file comes first: {files:?}");
    assert!(pids.contains(&other.child.id()), "the other client is listed: {files:?}");
}

#[test]
fn a_client_killed_with_work_in_flight_gives_everything_back_and_the_others_carry_on() {
    let daemon = Daemon::start(&[]);
    let mut me = Client::new(&daemon);
    let src = pattern_mr(&me.pd, 256 * 1024, 5);
    let mut dst = me.pd.alloc_mr(256 * 1024, Access::LOCAL_WRITE).unwrap();
    let before = me.ctx.device_resources().unwrap();

    let mut other = OtherClient::start(&daemon, "busy");
    assert_eq!(other.stdout.read_line_trimmed(), "posted");
    let busy = me.ctx.device_resources().unwrap();
    assert_eq!((busy.qps, busy.mrs, busy.crypto_keys), (before.qps + 1, before.mrs + 2, before.crypto_keys + 1));
    assert!(busy.pinned_bytes >= before.pinned_bytes + 2 * 1024 * 1024, "{busy:?}");

    let mut copies = 0;
    me.verified_copy(&src, &mut dst, copies);
    other.child.kill().unwrap();
    other.child.wait().unwrap();
    // Copy on while the daemon tears the dead client down, until its counters are back.
    let deadline = Instant::now() + Duration::from_secs(20);
    while me.ctx.device_resources().unwrap() != before {
        assert!(Instant::now() < deadline, "counters still {:?}, were {before:?}", me.ctx.device_resources().unwrap());
        copies += 1;
        me.verified_copy(&src, &mut dst, copies);
    }
    assert_eq!(me.ctx.device_files().unwrap().len(), 1, "only this client's file is left");
    for _ in 0..16 {
        copies += 1;
        me.verified_copy(&src, &mut dst, copies);
    }
}

#[test]
fn registering_past_a_clients_locked_memory_limit_fails_with_enomem_and_names_ulimit() {
    let daemon = Daemon::start(&["--max-locked-per-client", "1M"]);
    let ctx = daemon.device().open().unwrap();
    let pd = ctx.alloc_pd().unwrap();
    let err = pd.alloc_mr(2 << 20, Access::LOCAL_WRITE).unwrap_err();
    assert_eq!(err.errno(), Some(libc::ENOMEM));
    assert!(err.to_string().contains("ulimit -l"), "{err}");
    assert_eq!(ctx.device_resources().unwrap().pinned_bytes, 0, "a refused region pins nothing");
    let files = ctx.device_files().unwrap();
    assert_eq!(files[0].memlock_limit, 1 << 20);
    // Under the limit it works, and is charged.
    let mr = pd.alloc_mr(512 * 1024, Access::LOCAL_WRITE).unwrap();
    assert_eq!(ctx.device_files().unwrap()[0].objects.pinned_bytes, 512 * 1024);
    drop(mr);
    assert_eq!(ctx.device_files().unwrap()[0].objects.pinned_bytes, 0);
}

/// A connection driven by hand, past the handshake.
fn raw_connection(daemon: &Daemon) -> std::os::fd::OwnedFd {
    accelverbs_tests::daemon::raw_connection(&daemon.socket)
}

#[test]
fn a_connection_is_served_only_after_the_client_hands_over_its_memory() {
    use accelverbs::uapi::daemon::transport;
    use accelverbs::uapi::daemon::{DaemonMsg, MsgKind, PROTOCOL_VERSION};
    use std::os::fd::AsFd;
    let daemon = Daemon::start(&[]);
    // An ioctl first, or a Hello without the descriptor: EPROTO, and the connection ends.
    for first in [DaemonMsg::new(MsgKind::Ioctl, 0, 0), DaemonMsg::new(MsgKind::Hello, PROTOCOL_VERSION, 0)] {
        let socket = transport::connect(&daemon.socket).unwrap();
        transport::send(socket.as_fd(), &first, None).unwrap();
        assert_eq!(transport::recv(socket.as_fd()).unwrap().0, DaemonMsg::done(libc::EPROTO, PROTOCOL_VERSION, 0));
        assert_eq!(transport::recv(socket.as_fd()).unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
    }
    // Another file passed as the maps file: refused.
    let socket = transport::connect(&daemon.socket).unwrap();
    let mem = std::fs::OpenOptions::new().read(true).write(true).open("/proc/self/mem").unwrap();
    transport::send(socket.as_fd(), &DaemonMsg::new(MsgKind::Hello, PROTOCOL_VERSION, 0), Some(mem.as_fd())).unwrap();
    assert_eq!(transport::recv(socket.as_fd()).unwrap().0.errno, 0);
    let not_maps = std::fs::File::open("/dev/null").unwrap();
    transport::send(socket.as_fd(), &DaemonMsg::new(MsgKind::ProcessMaps, 0, 0), Some(not_maps.as_fd())).unwrap();
    assert_eq!(transport::recv(socket.as_fd()).unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
}

/// Found in review (helper-17): the daemon reached a client's memory by the pid it had at
/// connect, so a client that kept the connection in a child and exec'd had the daemon read and
/// write the new program's memory (a setuid one's, for a daemon running as root). The daemon
/// now reaches it only through the client's own mem file, which an exec leaves pointing at
/// nothing.
#[test]
fn after_the_client_execs_its_connection_reaches_no_memory() {
    let daemon = Daemon::start(&[]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_daemon_client"))
        .arg("exec")
        .env(accelverbs::uapi::daemon::SOCKET_ENV, &daemon.socket)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    // The client has exec'd `sleep`; its connection lives on in its forked child.
    assert_eq!(stdout.read_line_trimmed(), "exec'd");
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", child.id())).unwrap();
    let sleep_base = maps.lines().find(|l| l.contains("sleep")).expect("sleep's image in the maps");
    let addr = u64::from_str_radix(sleep_base.split('-').next().unwrap(), 16).unwrap();
    // An ioctl header at the base of sleep's image: readable, had the daemon followed the pid.
    writeln!(stdin, "{addr}").unwrap();
    assert_eq!(stdout.read_line_trimmed(), format!("errno {}", libc::EFAULT));
    let _ = child.kill();
    let _ = child.wait();
}

/// The limit is the client's own `RLIMIT_MEMLOCK` (read by the daemon, as the kernel charges
/// the caller's), for a client without `CAP_IPC_LOCK`.
#[test]
fn a_clients_own_rlimit_memlock_bounds_what_it_registers() {
    let daemon = Daemon::start(&[]);
    let out = Command::new(env!("CARGO_BIN_EXE_daemon_client"))
        .arg("memlock")
        .env(accelverbs::uapi::daemon::SOCKET_ENV, &daemon.socket)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with(&format!("errno {}: ", libc::ENOMEM)) && lines[0].contains("ulimit -l"), "{text}");
    assert_eq!(lines[1], "ok", "{text}");
}

#[test]
fn shared_memory_must_be_a_sealed_memfd() {
    use accelverbs::uapi::daemon::transport;
    use accelverbs::uapi::daemon::{DaemonMsg, MsgKind};
    use std::os::fd::{AsFd, AsRawFd};

    let daemon = Daemon::start(&[]);
    let socket = raw_connection(&daemon);
    let share = |fd: std::os::fd::BorrowedFd<'_>| {
        transport::send(socket.as_fd(), &DaemonMsg::new(MsgKind::ShareMemory, 0x7000_0000_0000, 4096), Some(fd)).unwrap();
        transport::recv(socket.as_fd()).unwrap().0.errno
    };
    // A regular file could be truncated under the daemon's mapping.
    let file = std::fs::File::open("/proc/self/exe").unwrap();
    assert_eq!(share(file.as_fd()), libc::EINVAL);
    // A memfd shorter than it claims.
    let short = transport::sealed_memfd(c"short", 1024).unwrap();
    assert_eq!(share(short.as_fd()), libc::EFAULT);
    // A hugetlbfs memfd (a hole in it can fault with SIGBUS): refused, where the machine has
    // hugetlbfs to make one.
    // SAFETY: memfd_create reads the NUL-terminated name; a non-negative return is ours.
    let huge = unsafe { libc::memfd_create(c"huge".as_ptr(), libc::MFD_HUGETLB | libc::MFD_ALLOW_SEALING | libc::MFD_CLOEXEC) };
    if huge >= 0 {
        // SAFETY: `huge` was just returned by memfd_create.
        let huge = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(huge) };
        // SAFETY: resizes and seals our own memfd.
        let sized = unsafe {
            libc::ftruncate(huge.as_raw_fd(), 2 << 20) == 0
                && libc::fcntl(huge.as_raw_fd(), libc::F_ADD_SEALS, transport::SHARED_SEALS) == 0
        };
        if sized {
            assert_eq!(share(huge.as_fd()), libc::EINVAL);
        } else {
            eprintln!("hugetlbfs memfd could not be sized here: that case is not checked");
        }
    } else {
        eprintln!("no hugetlbfs here: that case is not checked");
    }
    // A sealed memfd of the right size is taken.
    let good = transport::sealed_memfd(c"good", 4096).unwrap();
    assert_eq!(share(good.as_fd()), 0);
    // And an overlapping one is not.
    assert_eq!(share(good.as_fd()), libc::EINVAL);
}

#[test]
fn devinfo_names_the_daemon_and_lists_its_clients() {
    let daemon = Daemon::start(&[]);
    let _other = OtherClient::start(&daemon, "hold");
    let out = Command::new(workspace_binary("accel"))
        .args(["devinfo", "--stats"])
        .env(accelverbs::uapi::daemon::SOCKET_ENV, &daemon.socket)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains(&format!("daemon at {}", daemon.socket.display())), "{text}");
    assert!(text.contains("clients:\t\t2"), "{text}");
}

#[test]
fn a_daemon_that_goes_away_raises_device_fatal_then_fails_calls_with_eio() {
    let daemon = Daemon::start(&[]);
    let ctx = daemon.device().open().unwrap();
    let channel = ctx.create_comp_channel().unwrap();
    // Waiters blocked before the daemon goes: an async-event reader and a completion-channel
    // reader, each with no timeout. Both must wake.
    std::thread::scope(|s| {
        let events = s.spawn(|| ctx.get_async_event(None));
        let completions = s.spawn(|| channel.get_event(None));
        drop(daemon);
        let event = events.join().unwrap().unwrap();
        assert_eq!(event, Some(AsyncEvent { kind: AsyncEventType::DeviceFatal, qpn: 0 }));
        assert_eq!(completions.join().unwrap().unwrap_err().errno(), Some(libc::EIO));
    });
    // Reported once; then calls and waits fail with EIO.
    assert_eq!(ctx.get_async_event(None).unwrap_err().errno(), Some(libc::EIO));
    let err = ctx.alloc_pd().unwrap_err();
    assert_eq!(err.errno(), Some(libc::EIO), "{err}");
}

#[test]
fn a_client_holds_at_most_its_object_limit_and_gets_eagain_past_it() {
    let daemon = Daemon::start(&["--max-objects-per-client", "3"]);
    let ctx = daemon.device().open().unwrap();
    let pd = ctx.alloc_pd().unwrap();
    let cq = ctx.create_cq(16, None).unwrap();
    let mr = pd.alloc_mr(4096, Access::empty()).unwrap();
    assert_eq!(ctx.alloc_pd().unwrap_err().errno(), Some(libc::EAGAIN), "a fourth object");
    assert_eq!(pd.create_qp(&cq, QpInit::new(4)).unwrap_err().errno(), Some(libc::EAGAIN));
    // Another client has its own allowance.
    let other = daemon.device().open().unwrap();
    let _other_pd = other.alloc_pd().unwrap();
    // Giving one back makes room.
    drop(mr);
    let _qp = pd.create_qp(&cq, QpInit::new(4)).unwrap();
}

/// Found in review (helper-17): sharing was unbounded, so one client could map sparse
/// terabytes into the daemon until it could serve nobody. Shared memory now counts against
/// the client's locked-memory budget, as the pages the device holds mapped for it.
#[test]
fn shared_memory_counts_against_the_clients_locked_memory_budget() {
    use accelverbs::uapi::daemon::transport;
    use accelverbs::uapi::daemon::{DaemonMsg, MsgKind};
    use std::os::fd::AsFd;
    let daemon = Daemon::start(&["--max-locked-per-client", "1M"]);
    let socket = raw_connection(&daemon);
    let share = |addr: u64, len: u64| {
        let memfd = transport::sealed_memfd(c"window", len as usize).unwrap();
        transport::send(socket.as_fd(), &DaemonMsg::new(MsgKind::ShareMemory, addr, len), Some(memfd.as_fd())).unwrap();
        transport::recv(socket.as_fd()).unwrap().0.errno
    };
    // A sparse 32 TiB memfd costs the daemon nothing but address space: refused all the same.
    assert_eq!(share(0x7000_0000_0000, 32 << 40), libc::ENOMEM);
    assert_eq!(share(0x7000_0000_0000, 512 << 10), 0);
    assert_eq!(share(0x7100_0000_0000, 512 << 10), 0);
    assert_eq!(share(0x7200_0000_0000, 4096), libc::ENOMEM, "the budget is spent");
    // Unsharing gives it back.
    transport::send(socket.as_fd(), &DaemonMsg::new(MsgKind::UnshareMemory, 0x7100_0000_0000, 512 << 10), None).unwrap();
    assert_eq!(transport::recv(socket.as_fd()).unwrap().0.errno, 0);
    assert_eq!(share(0x7200_0000_0000, 4096), 0);
}

#[test]
fn a_client_process_opens_at_most_its_connection_limit() {
    let daemon = Daemon::start(&["--max-connections-per-client", "2"]);
    let (a, b) = (daemon.device().open().unwrap(), daemon.device().open().unwrap());
    let refused = daemon.device().open().unwrap_err();
    assert_eq!(refused.errno(), Some(libc::EAGAIN), "{refused}");
    // Closing one (which returns once the daemon closed it) makes room.
    drop(a);
    let _c = daemon.device().open().unwrap();
    drop(b);
}
