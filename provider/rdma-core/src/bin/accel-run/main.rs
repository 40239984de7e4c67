//! `accel-run CMD [ARGS]`: runs a verbs program against the embedded soft device, with stock
//! libibverbs. Sets up, in a private mount namespace of its own (a user namespace too when not
//! root): the sysfs tree libibverbs reads (`SYSFS_PATH`), the `/dev/infiniband/uverbs0` node,
//! the plugin under the name libibverbs loads (`RDMAV_DRIVERS`), and a FUSE broker for
//! completion channels (`ACCELVERBS_FUSE_BROKER`); then runs the command there and ends as it
//! ends. Programs it starts inherit all of it.
//!
//! Limits: on a host whose kernel has RDMA netlink (ib_core loaded), libibverbs enumerates over
//! netlink and ignores `SYSFS_PATH`, so the device is not found; these machines' kernels have
//! none. See docs/RDMA_CORE.md.

mod fuse_broker;
mod mount_api;
mod namespace;
mod supervise;
mod sysfs;

use std::path::{Path, PathBuf};
use std::process::Command;

use fuse_broker::FuseBroker;
use namespace::PRIVATE_DIR;

const USAGE: &str = "\
usage: accel-run CMD [ARGS...]

Runs CMD with stock libibverbs seeing the accelverbs soft device (accelsim0): ibv_devices,
ibv_devinfo, or any verbs program. Nothing on the host changes; everything accel-run sets up
lives in a private mount namespace and goes away with it.

environment:
  ACCEL_PLUGIN=PATH   the plugin to load (default: libaccel_rdmav34.so beside accel-run)

exit status: CMD's own, or 125 if accel-run failed, 126 if CMD cannot run, 127 if not found";

/// accel-run's own failures, like env(1).
const OWN_FAILURE: i32 = 125;

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("accel-run: {message}");
    std::process::exit(OWN_FAILURE)
}

fn plugin_path() -> PathBuf {
    if let Some(path) = std::env::var_os("ACCEL_PLUGIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(format!("cannot find my own executable: {e}")));
    exe.with_file_name("libaccel_rdmav34.so")
}

fn main() {
    let mut args = std::env::args_os().skip(1);
    let Some(program) = args.next() else {
        eprintln!("{USAGE}");
        std::process::exit(OWN_FAILURE);
    };
    if program == "--help" || program == "-h" {
        println!("{USAGE}");
        return;
    }
    let plugin = plugin_path();
    if !plugin.is_file() {
        fail(format!(
            "the plugin {} is missing: build it with `cargo build -p accelverbs-rdma-core`, or name it in ACCEL_PLUGIN",
            plugin.display()
        ));
    }
    let plugin = plugin.canonicalize().unwrap_or_else(|e| fail(format!("{}: {e}", plugin.display())));

    // Before any thread: a user namespace needs a single-threaded process, and threads inherit
    // the blocked signals that the supervisor takes through a descriptor.
    namespace::enter().unwrap_or_else(|e| fail(e));
    let signals = supervise::take_signals().unwrap_or_else(|e| fail(format!("signalfd: {e}")));
    namespace::private_dev().unwrap_or_else(|e| fail(format!("setting up the private /dev: {e}")));

    let private = Path::new(PRIVATE_DIR);
    let sys = private.join("sys");
    let lib = private.join("lib");
    let device = accelverbs::devices().into_iter().next().unwrap_or_else(|| fail("no accelverbs device is compiled in"));
    let caps =
        device.open().and_then(|ctx| ctx.query_device()).unwrap_or_else(|e| fail(format!("querying {}: {e}", device.name())));
    let dev = namespace::null_device_number().unwrap_or_else(|e| fail(e));
    sysfs::write_tree(&sys, device.name(), &caps, &dev).unwrap_or_else(|e| fail(format!("writing the sysfs tree: {e}")));
    std::fs::create_dir_all(&lib).unwrap_or_else(|e| fail(format!("{}: {e}", lib.display())));
    std::os::unix::fs::symlink(&plugin, lib.join("libaccel-rdmav34.so"))
        .unwrap_or_else(|e| fail(format!("linking the plugin: {e}")));
    let broker_path = private.join("fuse-broker.sock");
    let broker = FuseBroker::bind(&broker_path).unwrap_or_else(|e| fail(format!("the FUSE broker: {e}")));

    let mut command = Command::new(&program);
    command
        .args(args)
        .env("SYSFS_PATH", &sys)
        .env("RDMAV_DRIVERS", lib.join("libaccel"))
        .env("ACCELVERBS_FUSE_BROKER", &broker_path);
    let child = match supervise::spawn(command) {
        Ok(child) => child,
        Err((code, message)) => {
            eprintln!("{message}");
            std::process::exit(code);
        }
    };
    let ending = supervise::supervise(child, &broker, &signals).unwrap_or_else(|e| fail(format!("waiting for the program: {e}")));
    supervise::end_like(ending)
}
