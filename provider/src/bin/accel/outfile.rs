//! Output files that appear whole or not at all: the data goes to a temporary file in the
//! destination's directory, renamed over the destination once complete and removed on any
//! failure (or when dropped uncommitted), so a failed run leaves no partial output behind.
//! An interrupt (SIGINT, SIGTERM, SIGHUP, SIGPIPE, SIGXCPU) removes it too, as gzip does, then ends the
//! process; one that was ignored when the process started (`nohup`) stays ignored.

use std::ffi::{c_char, c_int, CString};
use std::fs::{self, File, FileTimes, Metadata, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use std::sync::Once;

/// Temporary names tried before giving up (each taken one is skipped).
const ATTEMPTS: u32 = 100;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// An output file being written.
#[derive(Debug)]
pub struct OutFile {
    file: File,
    temp: PathBuf,
    dest: PathBuf,
    committed: bool,
}

impl OutFile {
    /// A temporary file next to `dest`, readable by its owner only until committed (the data
    /// may be private).
    pub fn create(dest: &Path) -> io::Result<Self> {
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        for _ in 0..ATTEMPTS {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let temp = dir.join(format!(".accel.{}.{n}.tmp", std::process::id()));
            match OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temp) {
                Ok(file) => {
                    remove_on_interrupt(&temp);
                    return Ok(Self { file, temp, dest: dest.to_owned(), committed: false });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(io::ErrorKind::AlreadyExists, "no free temporary file name"))
    }

    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Moves the complete file to its destination (replacing what is there), with `like`'s
    /// owner (where permitted), permissions and times as gzip does, or else the permissions a
    /// new file gets.
    pub fn commit(self, like: Option<&Metadata>) -> io::Result<()> {
        match like {
            Some(like) => self.copy_metadata(like)?,
            None => self.file.set_permissions(fs::Permissions::from_mode(0o666 & !umask()))?,
        }
        self.rename_into_place()
    }

    /// Moves the complete file over the one at the destination, with its owner (where
    /// permitted) and permissions, as writing into it would have kept them: a file made
    /// private before (`install -m 600`) stays private.
    pub fn commit_over(self, replaced: Ownership) -> io::Result<()> {
        // Best effort: only root may give a file away.
        let _ = std::os::unix::fs::fchown(&self.file, Some(replaced.uid), Some(replaced.gid));
        self.file.set_permissions(fs::Permissions::from_mode(replaced.mode & 0o777))?;
        self.rename_into_place()
    }

    fn rename_into_place(mut self) -> io::Result<()> {
        fs::rename(&self.temp, &self.dest)?;
        self.committed = true;
        INTERRUPT_REMOVES.store(ptr::null_mut(), Ordering::SeqCst);
        Ok(())
    }

    fn copy_metadata(&self, like: &Metadata) -> io::Result<()> {
        // Best effort, as gzip: only root may give a file away.
        let _ = std::os::unix::fs::fchown(&self.file, Some(like.uid()), Some(like.gid()));
        self.file.set_permissions(fs::Permissions::from_mode(like.mode() & 0o777))?;
        let mut times = FileTimes::new();
        if let Ok(t) = like.accessed() {
            times = times.set_accessed(t);
        }
        if let Ok(t) = like.modified() {
            times = times.set_modified(t);
        }
        self.file.set_times(times)
    }
}

/// What a file being replaced hands on to its replacement: its owner and permissions.
#[derive(Debug, Clone, Copy)]
pub struct Ownership {
    uid: u32,
    gid: u32,
    mode: u32,
}

impl Ownership {
    pub fn of(meta: &Metadata) -> Self {
        Self { uid: meta.uid(), gid: meta.gid(), mode: meta.mode() }
    }
}

/// The process's umask (Linux reports it in /proc; 022 where it does not).
fn umask() -> u32 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Umask:").and_then(|v| u32::from_str_radix(v.trim(), 8).ok())))
        .unwrap_or(0o022)
}

impl Drop for OutFile {
    fn drop(&mut self) {
        if !self.committed {
            INTERRUPT_REMOVES.store(ptr::null_mut(), Ordering::SeqCst);
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// The temporary file an interrupt removes (null: none). One at a time: the commands write
/// one output file after another.
static INTERRUPT_REMOVES: AtomicPtr<c_char> = AtomicPtr::new(ptr::null_mut());

/// Makes `temp` the file an interrupt removes, installing the handlers on first use.
fn remove_on_interrupt(temp: &Path) {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // SIGPIPE and SIGXCPU too, as gzip: a message to a stderr whose reader is gone, or a
        // CPU time limit (`ulimit -t`), ends the process.
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGPIPE, libc::SIGXCPU] {
            // A signal ignored when we started stays ignored, as gzip leaves it: `nohup` (SIGHUP)
            // and a shell's background job (SIGINT) count on it.
            if is_ignored(sig) {
                continue;
            }
            // SAFETY: `on_interrupt` is an `extern "C" fn(c_int)` that only makes
            // async-signal-safe calls (an atomic load, unlink, signal, raise).
            unsafe { libc::signal(sig, on_interrupt as extern "C" fn(c_int) as libc::sighandler_t) };
        }
    });
    let Ok(path) = CString::new(temp.as_os_str().as_bytes()) else { return };
    // Leaked on purpose: a handler running on another thread may still read the previous
    // name, so no name is ever freed (a few bytes per output file).
    INTERRUPT_REMOVES.store(path.into_raw(), Ordering::SeqCst);
}

/// Whether `sig`'s disposition is to ignore it.
fn is_ignored(sig: c_int) -> bool {
    // SAFETY: an all-zero `sigaction` is a valid value to be overwritten.
    let mut current: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: with a null new action, sigaction only reads the disposition into `current`,
    // a valid, writable `sigaction`.
    let read = unsafe { libc::sigaction(sig, ptr::null(), &mut current) };
    read == 0 && current.sa_sigaction == libc::SIG_IGN
}

extern "C" fn on_interrupt(sig: c_int) {
    let path = INTERRUPT_REMOVES.load(Ordering::SeqCst);
    if !path.is_null() {
        // SAFETY: a non-null pointer is a leaked, never-freed NUL-terminated name.
        unsafe { libc::unlink(path) };
    }
    // SAFETY: restores the default action and re-raises, so the process ends as the signal
    // says (status and all); both calls are async-signal-safe.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}
