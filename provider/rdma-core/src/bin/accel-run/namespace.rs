//! A private mount namespace with a `/dev` of its own: the host's entries bound back in, plus
//! `/dev/infiniband/uverbs0` (a bind of `/dev/null`: libibverbs only checks it is a character
//! device whose number matches sysfs) and `/dev/accelverbs/` for the sysfs tree, the plugin's
//! link and the FUSE broker's socket. All of it lives in a tmpfs that exists only in the
//! namespace: nothing of the host's `/dev`, `/sys` or `/etc` changes, and nothing is left
//! behind when the last process in the namespace exits.
//!
//! As root, only the mount namespace is new. Unprivileged, a user namespace comes first, mapping
//! this user to itself (the program keeps its identity; its capabilities end at exec, while
//! this launcher keeps them for the broker's mounts).

use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::{symlink, FileTypeExt};

use crate::mount_api::{attach, clone_tree, cvt, new_filesystem};

/// Where the namespace's own files live.
pub const PRIVATE_DIR: &str = "/dev/accelverbs";

/// Enters a new mount namespace (and user namespace when not root). Must run before any thread
/// starts: the kernel refuses a user namespace to a multithreaded process.
pub fn enter() -> io::Result<()> {
    // SAFETY: plain queries.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let flags = if uid == 0 { libc::CLONE_NEWNS } else { libc::CLONE_NEWUSER | libc::CLONE_NEWNS };
    // SAFETY: `unshare` takes flags only.
    cvt(unsafe { libc::unshare(flags) }.into(), || "unshare (a private mount namespace)".into())?;
    if uid != 0 {
        let write =
            |path: &str, text: String| fs::write(path, text).map_err(|e| io::Error::new(e.kind(), format!("{path}: {e}")));
        write("/proc/self/setgroups", "deny".into())?;
        write("/proc/self/uid_map", format!("{uid} {uid} 1"))?;
        write("/proc/self/gid_map", format!("{gid} {gid} 1"))?;
    }
    // Nothing mounted from here on propagates back to the host.
    let root = CString::new("/").expect("no NUL");
    let none = std::ptr::null();
    // SAFETY: NUL-terminated path, null type and data, as mount(2) allows for a propagation change.
    let ret = unsafe { libc::mount(none, root.as_ptr(), none, libc::MS_REC | libc::MS_PRIVATE, none.cast()) };
    cvt(ret.into(), || "making / private".into())?;
    Ok(())
}

/// Replaces `/dev` by a tmpfs holding the host's entries (bound, with their submounts) and
/// the verbs node.
pub fn private_dev() -> io::Result<()> {
    let host_dev = clone_tree(None, "/dev", true)?;
    let names: Vec<(String, fs::FileType)> = fs::read_dir("/dev")?
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.file_type().ok()?)))
        .collect();
    let tmpfs = new_filesystem("tmpfs", &[("mode", "0755".into())])?;
    attach(&tmpfs, "/dev")?;
    for (name, kind) in &names {
        let path = format!("/dev/{name}");
        if kind.is_symlink() {
            let target = fs::read_link(format!("/proc/self/fd/{}/{name}", std::os::fd::AsRawFd::as_raw_fd(&host_dev)))?;
            symlink(target, &path)?;
            continue;
        }
        if kind.is_dir() {
            fs::create_dir(&path)?;
        } else {
            fs::File::create(&path)?;
        }
        // An entry that cannot be bound (a socket the kernel will not clone) is left out.
        if let Ok(tree) = clone_tree(Some(host_dev.as_fd()), name, true) {
            let _ = attach(&tree, &path);
        }
    }
    fs::create_dir_all("/dev/infiniband")?;
    fs::File::create("/dev/infiniband/uverbs0")?;
    let null = clone_tree(Some(host_dev.as_fd()), "null", false)?;
    attach(&null, "/dev/infiniband/uverbs0")?;
    fs::create_dir_all(PRIVATE_DIR)?;
    Ok(())
}

/// `major:minor` of `/dev/null`, which stands for the verbs node.
pub fn null_device_number() -> io::Result<String> {
    let meta = fs::metadata("/dev/infiniband/uverbs0")?;
    if !meta.file_type().is_char_device() {
        return Err(io::Error::other("/dev/infiniband/uverbs0 is not a character device"));
    }
    let rdev = std::os::unix::fs::MetadataExt::rdev(&meta);
    Ok(format!("{}:{}", libc::major(rdev), libc::minor(rdev)))
}
