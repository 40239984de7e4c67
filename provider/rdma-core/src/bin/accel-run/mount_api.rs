//! The kernel's mount API (`open_tree`, `move_mount`, `fsopen`, `fsconfig`, `fsmount`), which
//! the libc crate does not wrap: detached mounts need no mount point on the host.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// `<linux/mount.h>` and `<linux/fcntl.h>`.
const OPEN_TREE_CLONE: libc::c_uint = 1;
const OPEN_TREE_CLOEXEC: libc::c_uint = libc::O_CLOEXEC as libc::c_uint;
const AT_RECURSIVE: libc::c_uint = 0x8000;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const FSOPEN_CLOEXEC: libc::c_uint = 0x1;
pub const FSCONFIG_SET_STRING: libc::c_uint = 1;
pub const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 0x1;

pub fn cvt(ret: libc::c_long, what: impl Fn() -> String) -> io::Result<libc::c_long> {
    if ret < 0 {
        let e = io::Error::last_os_error();
        Err(io::Error::new(e.kind(), format!("{}: {e}", what())))
    } else {
        Ok(ret)
    }
}

fn cstr(s: &str) -> CString {
    CString::new(s).expect("no NUL in a path we build")
}

/// A detached copy of the mount tree at `path` (with its submounts when `recursive`).
pub fn clone_tree(dir: Option<BorrowedFd<'_>>, path: &str, recursive: bool) -> io::Result<OwnedFd> {
    let p = cstr(path);
    let flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | if recursive { AT_RECURSIVE } else { 0 };
    let dirfd = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    // SAFETY: a NUL-terminated path; a non-negative result is a new descriptor we own.
    let fd = cvt(unsafe { libc::syscall(libc::SYS_open_tree, dirfd, p.as_ptr(), flags) }, || format!("open_tree({path})"))?;
    // SAFETY: fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Attaches the detached mount `tree` at `target` (an absolute path).
pub fn attach(tree: &OwnedFd, target: &str) -> io::Result<()> {
    let (empty, t) = (cstr(""), cstr(target));
    let (from, flags) = (tree.as_raw_fd(), MOVE_MOUNT_F_EMPTY_PATH);
    // SAFETY: NUL-terminated paths; `tree` is a mount descriptor of ours.
    let ret = unsafe { libc::syscall(libc::SYS_move_mount, from, empty.as_ptr(), libc::AT_FDCWD, t.as_ptr(), flags) };
    cvt(ret, || format!("move_mount(.., {target})"))?;
    Ok(())
}

/// A new, detached filesystem of type `fs_type` configured by string `options`.
pub fn new_filesystem(fs_type: &str, options: &[(&str, String)]) -> io::Result<OwnedFd> {
    let t = cstr(fs_type);
    // SAFETY: a NUL-terminated name; a non-negative result is ours.
    let fd = cvt(unsafe { libc::syscall(libc::SYS_fsopen, t.as_ptr(), FSOPEN_CLOEXEC) }, || format!("fsopen({fs_type})"))?;
    // SAFETY: fresh descriptor.
    let context = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    for (key, value) in options {
        let (k, v) = (cstr(key), cstr(value));
        // SAFETY: sets a string parameter from NUL-terminated strings on our context.
        let ret =
            unsafe { libc::syscall(libc::SYS_fsconfig, context.as_raw_fd(), FSCONFIG_SET_STRING, k.as_ptr(), v.as_ptr(), 0) };
        cvt(ret, || format!("fsconfig({fs_type}, {key})"))?;
    }
    let none = std::ptr::null::<u8>();
    // SAFETY: creates the superblock of our context.
    let ret = unsafe { libc::syscall(libc::SYS_fsconfig, context.as_raw_fd(), FSCONFIG_CMD_CREATE, none, none, 0) };
    cvt(ret, || format!("creating a {fs_type} superblock"))?;
    // SAFETY: a detached mount of our context; a non-negative result is ours.
    let fd = cvt(unsafe { libc::syscall(libc::SYS_fsmount, context.as_raw_fd(), FSMOUNT_CLOEXEC, 0) }, || {
        format!("fsmount({fs_type})")
    })?;
    // SAFETY: fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}
