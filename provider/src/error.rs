//! Errors. Control operations fail with the driver's errno; posting fails without one.

use std::fmt;

use accelverbs_uapi::verbs::QpState;

/// A control operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The driver refused: `op` names the verb, `errno` is what the kernel would return
    /// (`EINVAL` bad argument, `ENOMEM` a limit reached, `EBUSY` still in use, `EFAULT` bad
    /// address, `EOPNOTSUPP` unsupported feature, `EPROTONOSUPPORT` unknown method).
    Verbs { op: &'static str, errno: i32 },
    /// Memory for a ring or buffer could not be mapped.
    Map { what: &'static str, errno: i32 },
    /// The daemon at `path` could not be reached, or does not speak this protocol (`EPROTO`).
    Daemon { path: std::path::PathBuf, errno: i32 },
    /// A device answer made no sense (a provider/driver version mismatch).
    Protocol { op: &'static str, detail: &'static str },
    /// `op` was given an `object` of another context. Objects are known to the driver by
    /// per-context handle numbers, so it must never see one of another context's.
    WrongContext { op: &'static str, object: &'static str },
    /// A posted work request may still use `what`: poll its completion (or a later one of
    /// the same QP) first.
    InFlight { what: &'static str },
}

impl Error {
    /// The errno behind the failure, if any.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Verbs { errno, .. } | Error::Map { errno, .. } | Error::Daemon { errno, .. } => Some(*errno),
            Error::WrongContext { .. } => Some(libc::EINVAL),
            Error::InFlight { .. } => Some(libc::EBUSY),
            Error::Protocol { .. } => None,
        }
    }
}

/// The verbs that pin memory, whose `ENOMEM` is most often the locked-memory limit.
const PINNING_OPS: [&str; 3] = ["reg_mr", "create_cq", "create_qp"];

fn strerror(errno: i32) -> String {
    std::io::Error::from_raw_os_error(errno).to_string()
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Verbs { op, errno } => {
                write!(f, "{op} failed: {}", strerror(*errno))?;
                if *errno == libc::ENOMEM && PINNING_OPS.contains(op) {
                    write!(f, " (pinned memory counts against the locked-memory limit: see `ulimit -l`)")?;
                }
                Ok(())
            }
            Error::Map { what, errno } => {
                write!(f, "cannot map {what}: {}", strerror(*errno))?;
                if *errno == libc::ENOMEM {
                    write!(f, " (memory shared with the device counts against the locked-memory limit: see `ulimit -l`)")?;
                }
                Ok(())
            }
            Error::Daemon { path, errno } => {
                write!(
                    f,
                    "cannot use the accel-simd daemon at {} ({}): {}",
                    path.display(),
                    accelverbs_uapi::daemon::SOCKET_ENV,
                    strerror(*errno)
                )
            }
            Error::Protocol { op, detail } => write!(f, "{op}: unexpected answer from the device: {detail}"),
            Error::WrongContext { op, object } => write!(f, "{op}: the {object} belongs to another device context"),
            Error::InFlight { what } => {
                write!(f, "the {what} is in use by a posted work request: poll its completion first")
            }
        }
    }
}

impl std::error::Error for Error {}

/// A work request could not be posted (nothing was written to the ring).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PostError {
    /// The send (or receive) queue is full: poll completions, then post again.
    QueueFull,
    /// The QP is not in RTS or ERR (as `ibv_post_send` refuses in RESET, INIT, RTR), or, for a
    /// receive, in RESET.
    NotReady(QpState),
    /// A region the request names is in use by requests of another QP: two engines must not
    /// touch the same bytes at once. Poll those completions, then post again.
    RegionBusy,
    /// A region the request names belongs to another context (keys are only meaningful on
    /// the device, and in the context, that issued them).
    WrongContext,
    /// A gathered request names more SGEs on one side than a list holds, or none.
    SgeCount { max: u32 },
    /// The QP's SGE-list area could not be allocated and registered (the errno), on the first
    /// gathered request.
    ListArea { errno: i32 },
    /// A receive on a QP created without a receive queue ([`crate::QpInit::max_recv_wr`]).
    NoReceiveQueue,
}

impl fmt::Display for PostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PostError::QueueFull => write!(f, "send queue full"),
            PostError::NotReady(s) => write!(f, "QP is in state {s:?}, not RTS"),
            PostError::RegionBusy => write!(f, "a memory region is in use by another QP's work requests"),
            PostError::WrongContext => write!(f, "a memory region belongs to another device context"),
            PostError::SgeCount { max } => write!(f, "a work request needs 1 to {max} SGEs on each side"),
            PostError::NoReceiveQueue => write!(f, "the QP has no receive queue (max_recv_wr was 0)"),
            PostError::ListArea { errno } => {
                write!(f, "the SGE-list area could not be registered: {}", std::io::Error::from_raw_os_error(*errno))
            }
        }
    }
}

impl std::error::Error for PostError {}
