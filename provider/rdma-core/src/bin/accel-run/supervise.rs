//! Runs the command and stays beside it: serving the FUSE broker, passing on the signals a
//! shell would (so Ctrl-C or a `kill` reaches the program), and ending with the program's own
//! exit: its status, or the same signal.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, Command};

use crate::fuse_broker::FuseBroker;

/// Signals passed on to the program rather than acted on here.
const FORWARDED: [libc::c_int; 6] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT, libc::SIGUSR1, libc::SIGUSR2];

/// The signals this process takes through a descriptor (the forwarded ones and SIGCHLD),
/// blocked so they queue there. Call before any thread starts: threads inherit the mask.
pub fn take_signals() -> io::Result<OwnedFd> {
    // SAFETY: builds a local set and blocks it for this thread (and threads it starts later).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in FORWARDED.iter().chain([&libc::SIGCHLD]) {
            libc::sigaddset(&mut set, *sig);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(OwnedFd::from_raw_fd(fd))
    }
}

/// How the program ended.
pub enum Ending {
    Exited(i32),
    Signaled(i32),
}

/// Waits for `child`, serving `broker` and forwarding signals meanwhile.
pub fn supervise(mut child: Child, broker: &FuseBroker, signals: &OwnedFd) -> io::Result<Ending> {
    let pid = child.id() as libc::pid_t;
    loop {
        if let Some(status) = child.try_wait()? {
            use std::os::unix::process::ExitStatusExt;
            return Ok(match (status.code(), status.signal()) {
                (Some(code), _) => Ending::Exited(code),
                (None, Some(sig)) => Ending::Signaled(sig),
                (None, None) => Ending::Exited(125),
            });
        }
        let mut fds = [
            libc::pollfd { fd: broker.fd(), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: signals.as_raw_fd(), events: libc::POLLIN, revents: 0 },
        ];
        // SAFETY: polls two live pollfds.
        if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if fds[0].revents & libc::POLLIN != 0 {
            if let Err(e) = broker.serve_one() {
                eprintln!("accel-run: the FUSE broker could not serve a process: {e}");
            }
        }
        if fds[1].revents & libc::POLLIN != 0 {
            // SAFETY: an all-zero siginfo is valid; read fills it from our signalfd.
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            let size = std::mem::size_of::<libc::signalfd_siginfo>();
            // SAFETY: reads one record into a live local of its size.
            let n = unsafe { libc::read(signals.as_raw_fd(), (&mut info as *mut libc::signalfd_siginfo).cast(), size) };
            if n == size as isize && info.ssi_signo as libc::c_int != libc::SIGCHLD {
                // SAFETY: sends a signal to our own child.
                unsafe { libc::kill(pid, info.ssi_signo as libc::c_int) };
            }
        }
    }
}

/// Ends this process the way the program ended: its exit code, or death by the same signal
/// (after restoring the default action), as a shell's `exec` would look to the caller.
pub fn end_like(ending: Ending) -> ! {
    match ending {
        Ending::Exited(code) => std::process::exit(code),
        Ending::Signaled(sig) => {
            // SAFETY: restores the default action of `sig`, unblocks it, and raises it here.
            unsafe {
                libc::signal(sig, libc::SIG_DFL);
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, sig);
                libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
                libc::raise(sig);
            }
            // A signal whose default is to continue (none of the forwarded ones): the
            // shell's convention.
            std::process::exit(128 + sig)
        }
    }
}

/// Starts the program; `Err` carries the exit code a shell would use (127 not found, 126 not
/// executable) and the message.
pub fn spawn(mut command: Command) -> Result<Child, (i32, String)> {
    let shown = command.get_program().to_string_lossy().into_owned();
    // SAFETY: the hook runs in the forked child before exec and only calls async-signal-safe
    // functions (`sigemptyset`, `pthread_sigmask`): the program starts with no signal blocked,
    // not with the mask this process uses to take them through a descriptor.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            Ok(())
        });
    }
    command.spawn().map_err(|e| {
        let code = match e.kind() {
            io::ErrorKind::NotFound => 127,
            _ => 126,
        };
        (code, format!("accel-run: cannot run {shown}: {e}"))
    })
}
