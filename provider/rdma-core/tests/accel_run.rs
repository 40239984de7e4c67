//! accel-run itself: what it sets up inside, what it leaves outside, and how it ends.

use std::path::Path;
use std::process::{Command, Output};

fn accel_run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_accel-run")).args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_programs_exit_status_and_signal_come_back() {
    assert_eq!(accel_run(&["sh", "-c", "exit 7"]).status.code(), Some(7));
    let killed = accel_run(&["sh", "-c", "kill -TERM $$; sleep 5"]);
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&killed.status), Some(libc::SIGTERM), "{killed:?}");
}

#[test]
fn a_missing_command_is_127_and_says_so() {
    let out = accel_run(&["/no/such/program"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(text(&out.stderr).contains("cannot run /no/such/program"), "{}", text(&out.stderr));
    let none = accel_run(&[]);
    assert_eq!(none.status.code(), Some(125));
    assert!(text(&none.stderr).contains("usage: accel-run CMD"));
}

#[test]
fn a_missing_plugin_is_named_with_how_to_build_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_accel-run")).env("ACCEL_PLUGIN", "/no/plugin.so").arg("true").output().unwrap();
    assert_eq!(out.status.code(), Some(125));
    let err = text(&out.stderr);
    assert!(err.contains("/no/plugin.so") && err.contains("cargo build -p accelverbs-rdma-core"), "{err}");
}

#[test]
fn inside_libibverbs_finds_sysfs_the_node_and_the_plugin_and_outside_nothing_changed() {
    let script = r#"
        set -e
        cat "$SYSFS_PATH/class/infiniband_verbs/uverbs0/ibdev"
        cat "$SYSFS_PATH/class/infiniband/accelsim0/node_guid"
        stat -c '%F %t:%T' /dev/infiniband/uverbs0
        test -e "$RDMAV_DRIVERS-rdmav34.so" && echo plugin
        test -S "$ACCELVERBS_FUSE_BROKER" && echo broker
        head -c 3 /dev/zero | wc -c
        sh -c 'stat -c %F /dev/infiniband/uverbs0'
    "#;
    let out = accel_run(&["sh", "-c", script]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    assert_eq!(
        lines,
        ["accelsim0", "02ac:ce1e:0000:0001", "character special file 1:3", "plugin", "broker", "3", "character special file"]
    );
    assert!(!Path::new("/dev/infiniband").exists(), "the host's /dev gained /dev/infiniband");
    assert!(!Path::new("/dev/accelverbs").exists(), "the host's /dev gained /dev/accelverbs");
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    assert!(!mounts.contains("accelverbs") && !mounts.contains("infiniband"), "a mount was left behind:\n{mounts}");
}

#[test]
fn an_unprivileged_user_gets_the_same_device() {
    // SAFETY: a plain query.
    if unsafe { libc::geteuid() } != 0 {
        println!("skipped: needs root to run as another user (this run is already unprivileged)");
        return;
    }
    // The binaries live under a tree `nobody` may not reach: copy them out.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("unprivileged");
    std::fs::create_dir_all(&dir).unwrap();
    let exe = Path::new(env!("CARGO_BIN_EXE_accel-run"));
    let plugin = exe.with_file_name("libaccel_rdmav34.so");
    let mut to_run = Vec::new();
    for from in [exe, plugin.as_path()] {
        let to = std::env::temp_dir().join(format!(
            "accelverbs-{}-{}",
            std::process::id(),
            from.file_name().unwrap().to_string_lossy()
        ));
        std::fs::copy(from, &to).unwrap();
        to_run.push(to);
    }
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&to_run[0])
        .args(["sh", "-c", "id -u; ibv_devices"])
        .env("ACCEL_PLUGIN", &to_run[1])
        .output()
        .unwrap();
    for file in &to_run {
        let _ = std::fs::remove_file(file);
    }
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("65534\n") && stdout.contains("accelsim0"), "{stdout}");
}
