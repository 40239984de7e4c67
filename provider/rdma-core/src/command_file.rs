//! The command file: what libibverbs write()s its few non-provider commands to.
//!
//! `ibv_create_comp_channel` is not a provider verb: libibverbs writes
//! `IB_USER_VERBS_CMD_CREATE_COMP_CHANNEL` to the context's command descriptor and reads the
//! channel's descriptor from the response the "kernel" stores in its memory. The device node
//! it opened is a stand-in (`/dev/null` under accel-run), so `alloc_context` swaps that
//! descriptor for a file served by FUSE from a thread of this process: the response is then a
//! store into our own memory, and the channel descriptor is valid here.
//!
//! Served: INIT (by fuser), GETATTR, OPEN (direct I/O, not seekable, a stream, and no FLUSH
//! on close: see `open`), WRITE, IOCTL (`ENOTTY`, so libibverbs speaks write() commands),
//! RELEASE. A request from a thread
//! of another process (a forked child writing through the inherited descriptor) is refused
//! with `EPERM`: the response address would be in its memory, not ours.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use fuser::{
    Config, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, INodeNo, IoctlFlags, LockOwner, OpenFlags, ReplyAttr,
    ReplyEmpty, ReplyIoctl, ReplyOpen, ReplyWrite, Request, Session, SessionACL, WriteFlags,
};

use crate::channels;
use crate::fuse_broker::{self, BROKER_ENV};
use crate::sys;

/// This process's command-file server, started on first use.
struct CommandServer {
    /// The process that started it: a forked child inherits this value but not the thread.
    pid: u32,
    mount: OwnedFd,
}

static SERVER: OnceLock<Option<CommandServer>> = OnceLock::new();

/// Points `cmd_fd` at a fresh open of the served command file, if this process can have one
/// (it runs under accel-run, and is the process that started the server). Without it, verbs
/// work but completion channels do not.
pub fn serve_commands_on(cmd_fd: RawFd) -> bool {
    let Some(server) = SERVER.get_or_init(start) else { return false };
    if server.pid != std::process::id() {
        return false;
    }
    let path = CString::new(format!("/proc/self/fd/{}", server.mount.as_raw_fd())).expect("no NUL in a number");
    // Unprivileged, the file must be looked up before it can be opened (EACCES otherwise).
    // SAFETY: `stat` fills a local with the attributes of a NUL-terminated path.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::stat(path.as_ptr(), &mut st) } != 0 {
        return false;
    }
    // SAFETY: opens a NUL-terminated path; a non-negative result is ours.
    let file = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if file < 0 {
        return false;
    }
    // SAFETY: replaces `cmd_fd` (libibverbs' descriptor, which it keeps using) by our file,
    // then closes our now-duplicated descriptor.
    let swapped = unsafe { libc::dup3(file, cmd_fd, libc::O_CLOEXEC) } == cmd_fd;
    // SAFETY: `file` is ours.
    unsafe { libc::close(file) };
    swapped
}

fn start() -> Option<CommandServer> {
    let path = std::env::var_os(BROKER_ENV)?;
    let connection = match fuse_broker::request(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("accelverbs: no completion channels: the FUSE broker ({BROKER_ENV}) answered: {e}");
            return None;
        }
    };
    // The mount was made before the descriptors were sent, so INIT is waiting: the handshake
    // does not block.
    let session = match Session::from_fd(CommandFs, connection.device, SessionACL::Owner, Config::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("accelverbs: no completion channels: FUSE handshake failed: {e}");
            return None;
        }
    };
    let spawned = std::thread::Builder::new().name("accelverbs-cmd".into()).spawn(move || {
        block_signals();
        let _ = session.run();
    });
    if let Err(e) = spawned {
        eprintln!("accelverbs: no completion channels: cannot start the command server: {e}");
        return None;
    }
    Some(CommandServer { pid: std::process::id(), mount: connection.mount })
}

/// Keeps the application's signals off a service thread (a handler running there could call
/// verbs that wait for this very thread).
pub fn block_signals() {
    // SAFETY: fills a local set and applies it to this thread only.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
    }
}

/// Whether `tid` is a thread of this process.
fn is_our_thread(tid: u32) -> bool {
    std::path::Path::new(&format!("/proc/self/task/{tid}")).exists()
}

/// The one-file filesystem.
struct CommandFs;

impl Filesystem for CommandFs {
    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        // SAFETY: plain queries of this process's ids.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        let attr = FileAttr {
            ino,
            size: 0,
            blocks: 0,
            atime: SystemTime::UNIX_EPOCH,
            mtime: SystemTime::UNIX_EPOCH,
            ctime: SystemTime::UNIX_EPOCH,
            crtime: SystemTime::UNIX_EPOCH,
            kind: FileType::RegularFile,
            perm: 0o600,
            nlink: 1,
            uid,
            gid,
            rdev: 0,
            blksize: 4096,
            flags: 0,
        };
        reply.attr(&Duration::from_secs(3600), &attr);
    }

    fn open(&self, _req: &Request, _ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        // No FLUSH on close: the process serves its own file, and when it exits, the thread
        // closing the file last may outlive the server thread; a FLUSH would then wait for
        // an answer forever and the process would never finish exiting.
        let flags =
            FopenFlags::FOPEN_DIRECT_IO | FopenFlags::FOPEN_NONSEEKABLE | FopenFlags::FOPEN_STREAM | FopenFlags::FOPEN_NOFLUSH;
        reply.opened(FileHandle(0), flags);
    }

    fn write(
        &self,
        req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        if !is_our_thread(req.pid()) {
            return reply.error(Errno::EPERM);
        }
        match command(data) {
            Ok(()) => reply.written(data.len() as u32),
            Err(errno) => reply.error(Errno::from_i32(errno)),
        }
    }

    fn ioctl(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: IoctlFlags,
        _cmd: u32,
        _in_data: &[u8],
        _out_size: u32,
        reply: ReplyIoctl,
    ) {
        // libibverbs probes RDMA_VERBS_IOCTL once; this answer makes it use write() commands.
        reply.error(Errno::ENOTTY);
    }

    fn flush(&self, _req: &Request, _ino: INodeNo, _fh: FileHandle, _lock_owner: LockOwner, reply: ReplyEmpty) {
        reply.ok();
    }
}

/// One write() command: `struct ib_uverbs_cmd_hdr`, then the command's own words.
fn command(data: &[u8]) -> Result<(), i32> {
    let header_len = std::mem::size_of::<sys::ib_uverbs_cmd_hdr>();
    if data.len() < header_len {
        return Err(libc::EINVAL);
    }
    let word = |at: usize| u32::from_ne_bytes(data[at..at + 4].try_into().expect("4 bytes"));
    let command = word(0);
    let in_words = u16::from_ne_bytes([data[4], data[5]]) as usize;
    let out_words = u16::from_ne_bytes([data[6], data[7]]) as usize;
    if in_words * 4 != data.len() {
        return Err(libc::EINVAL);
    }
    match command {
        // `struct ibv_create_comp_channel`: the header, then the response address; the
        // response is `struct ib_uverbs_create_comp_channel_resp { u32 fd }`.
        sys::IB_USER_VERBS_CMD_CREATE_COMP_CHANNEL => {
            if data.len() < header_len + 8 || out_words * 4 < std::mem::size_of::<sys::ib_uverbs_create_comp_channel_resp>() {
                return Err(libc::EINVAL);
            }
            let response = u64::from_ne_bytes(data[header_len..header_len + 8].try_into().expect("8 bytes"));
            channels::create(response)
        }
        // Every other command is a provider verb, which never reaches the file.
        _ => Err(libc::EOPNOTSUPP),
    }
}
