//! An `accel-simd` daemon for a test: started on a private socket, stopped (killed) on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use accelverbs::{Channel, ChannelSource, DaemonChannel, DaemonSource, Device, Error, SharedMemory};

/// A connection to the daemon at `socket` driven by hand, past the handshake (this process's
/// mem and maps files): for tests that speak the protocol themselves.
pub fn raw_connection(socket: &Path) -> std::os::fd::OwnedFd {
    use accelverbs::uapi::daemon::transport;
    use accelverbs::uapi::daemon::{DaemonMsg, MsgKind, PROTOCOL_VERSION};
    use std::os::fd::AsFd;
    let socket = transport::connect(socket).expect("connect to the daemon");
    let mem = std::fs::OpenOptions::new().read(true).write(true).open("/proc/self/mem").expect("/proc/self/mem");
    let maps = std::fs::File::open("/proc/self/maps").expect("/proc/self/maps");
    for (msg, fd) in [
        (DaemonMsg::new(MsgKind::Hello, PROTOCOL_VERSION, 0), mem.as_fd()),
        (DaemonMsg::new(MsgKind::ProcessMaps, 0, 0), maps.as_fd()),
    ] {
        transport::send(socket.as_fd(), &msg, Some(fd)).expect("send the handshake");
        assert_eq!(transport::recv(socket.as_fd()).expect("the daemon answers").0.errno, 0);
    }
    socket
}

/// A binary of this workspace built beside the test executable (`target/<profile>/NAME`).
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let path = dir.join(name);
    assert!(path.exists(), "{} is missing: build it first (bash tests/run.sh does)", path.display());
    path
}

/// Spawns `command` so that it is killed when this process ends, however it ends: from a
/// thread that lives as long as the process (`PR_SET_PDEATHSIG` fires when the thread that
/// forked the child exits), so a daemon a test leaked (`mem::forget`) does not outlive the test.
fn spawn_tied_to_this_process(command: Command) -> Child {
    use std::os::unix::process::CommandExt;
    use std::sync::mpsc::{channel, Sender};
    use std::sync::{Mutex, OnceLock};
    type Request = (Command, Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<Mutex<Sender<Request>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = channel::<Request>();
        std::thread::Builder::new()
            .name("daemon-spawner".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    // SAFETY: between fork and exec the child only calls prctl, which is
                    // async-signal-safe, and touches no memory of the parent's.
                    unsafe {
                        command.pre_exec(|| {
                            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                                return Err(std::io::Error::last_os_error());
                            }
                            Ok(())
                        });
                    }
                    let _ = reply.send(command.spawn());
                }
            })
            .expect("the spawner thread");
        Mutex::new(tx)
    });
    let (tx, rx) = channel();
    spawner.lock().unwrap_or_else(|e| e.into_inner()).send((command, tx)).expect("the spawner runs");
    rx.recv().expect("the spawner answers").expect("start accel-simd")
}

/// A running daemon.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    dir: PathBuf,
    pub socket: PathBuf,
}

impl Daemon {
    /// Starts `accel-simd --foreground` with `args` and waits until it accepts connections.
    pub fn start(args: &[&str]) -> Daemon {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        static SWEPT: std::sync::Once = std::sync::Once::new();
        SWEPT.call_once(remove_dirs_of_ended_processes);
        let dir =
            std::env::temp_dir().join(format!("accelverbs-simd-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
        std::fs::create_dir_all(&dir).expect("a directory for the socket");
        let socket = dir.join("sock");
        let log = std::fs::File::create(dir.join("log")).expect("a log file");
        let mut command = Command::new(workspace_binary("accel-simd"));
        command.args(["--foreground", "--mode", "600", "--socket"]).arg(&socket).args(args);
        // No output of ours: a daemon left running must not hold the test's pipes open.
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
        let child = spawn_tied_to_this_process(command);
        let mut daemon = Daemon { child, dir, socket };
        let deadline = Instant::now() + Duration::from_secs(20);
        while DaemonChannel::connect(&daemon.socket).is_err() {
            if let Some(status) = daemon.child.try_wait().expect("the daemon's status") {
                panic!("accel-simd exited ({status}) before listening: {}", daemon.log());
            }
            assert!(Instant::now() < deadline, "accel-simd did not listen within 20 s: {}", daemon.log());
            std::thread::sleep(Duration::from_millis(2));
        }
        daemon
    }

    /// The device it serves.
    pub fn device(&self) -> Device {
        Device::from_source("accelsim0", Arc::new(DaemonSource::new(&self.socket)))
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// Removes the directories of daemons whose test process has ended. A daemon kept for a
/// whole test process (the suite's shared one, or one a test leaks on purpose) is never
/// dropped, and the process's end kills it before it could remove its socket and log: each
/// run of the suite left about twenty directories behind.
fn remove_dirs_of_ended_processes() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("accelverbs-simd-")).and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        let ended = pid.parse::<u32>().is_ok_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
        if ended {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A device on a daemon of its own, which lives as long as the device or any channel opened
/// from it: for the suite on the daemon channel, where each test's device must be as private
/// (its own engines, its own object counts) as an embedded one.
pub fn private_device(engines: usize) -> Device {
    let engines = engines.clamp(1, 64).to_string();
    let daemon = Arc::new(Daemon::start(&["--engines", &engines]));
    Device::from_source("accelsim0", Arc::new(PrivateDaemon { source: DaemonSource::new(&daemon.socket), daemon }))
}

struct PrivateDaemon {
    source: DaemonSource,
    daemon: Arc<Daemon>,
}

impl ChannelSource for PrivateDaemon {
    fn open(&self) -> Result<Box<dyn Channel>, Error> {
        Ok(Box::new(KeepAlive { inner: self.source.open()?, _daemon: Arc::clone(&self.daemon) }))
    }
}

/// A channel that keeps its daemon running.
#[derive(Debug)]
struct KeepAlive {
    inner: Box<dyn Channel>,
    _daemon: Arc<Daemon>,
}

// SAFETY: every call goes to `inner`, a channel whose contract holds; the daemon it talks to
// lives at least as long as this value.
unsafe impl Channel for KeepAlive {
    unsafe fn ioctl(&self, request: u32, hdr_addr: u64) -> Result<(), i32> {
        // SAFETY: the caller keeps `Channel::ioctl`'s contract, which is `inner`'s.
        unsafe { self.inner.ioctl(request, hdr_addr) }
    }
    fn mmap(&self, offset: u64, len: usize) -> Result<std::ptr::NonNull<u8>, i32> {
        self.inner.mmap(offset, len)
    }
    fn shared_memory(&self) -> Option<Arc<dyn SharedMemory>> {
        self.inner.shared_memory()
    }
    fn release_fd(&self, fd: std::os::fd::RawFd) {
        self.inner.release_fd(fd)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn gone_fd(&self) -> Option<std::os::fd::RawFd> {
        self.inner.gone_fd()
    }
}
