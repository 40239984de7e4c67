//! Unmodified verbs programs on the plugin: rdma-core's own tools, the C programs in
//! examples/c compiled here against Debian's libibverbs-dev, and rust-ibverbs, each run under
//! accel-run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn accel_run() -> Command {
    Command::new(env!("CARGO_BIN_EXE_accel-run"))
}

/// Runs `command` to its end, or fails the test after two minutes (killing it) instead of
/// hanging the suite.
fn run(mut command: Command) -> Output {
    let shown = format!("{command:?}");
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{shown}: {e}"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{shown} did not finish in two minutes");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    if !out.status.success() {
        panic!(
            "{shown} exited with {}\nstdout:\n{}\nstderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

/// Compiles `examples/c/<name>.c` against the system's libibverbs into the test's own
/// directory.
fn compile(name: &str) -> PathBuf {
    compile_with(name, &[])
}

/// Compiles a program that also uses acceldv.h: the plugin's header and library (found beside
/// accel-run), and zlib to check the device's output.
fn compile_dv(name: &str) -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let libdir = Path::new(env!("CARGO_BIN_EXE_accel-run")).parent().unwrap().to_path_buf();
    let include = format!("-I{}", manifest.join("include").display());
    let rpath = format!("-Wl,-rpath,{}", libdir.display());
    let search = format!("-L{}", libdir.display());
    compile_with(name, &[&include, &search, "-laccel_rdmav34", &rpath, "-lz"])
}

/// Each compilation writes a binary of its own: two tests that build the same program run at
/// once (embedded and on the daemon), and one must not run what the other is still writing.
fn compile_with(name: &str, extra: &[&str]) -> PathBuf {
    static BUILDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/c").join(format!("{name}.c"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("verbs-programs");
    std::fs::create_dir_all(&dir).unwrap();
    let build = BUILDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let binary = dir.join(format!("{name}-{}-{build}", std::process::id()));
    let mut cc = Command::new("cc");
    cc.args(["-Wall", "-Wextra", "-Werror", "-O1", "-o"]).arg(&binary).arg(&source).args(["-libverbs", "-lpthread"]).args(extra);
    run(cc);
    binary
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn ibv_devices_lists_the_soft_device() {
    let mut c = accel_run();
    c.arg("ibv_devices");
    let out = stdout(&run(c));
    assert!(out.contains("accelsim0"), "{out}");
    assert!(out.contains("02acce1e00000001"), "the node GUID the device reports: {out}");
}

#[test]
fn ibv_devinfo_shows_the_device_and_its_active_port() {
    let mut c = accel_run();
    c.args(["ibv_devinfo", "-v"]);
    let out = stdout(&run(c));
    for expected in [
        "hca_id:\taccelsim0",
        "node_guid:\t\t\t02ac:ce1e:0000:0001",
        "vendor_id:\t\t\t0xffff",
        "phys_port_cnt:\t\t\t1",
        "max_qp_wr:\t\t\t32768",
        "state:\t\t\tPORT_ACTIVE (4)",
        "active_mtu:\t\t4096 (5)",
        "phys_state:\t\tLINK_UP (5)",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

#[test]
fn plain_verbs_rdma_write_and_read_complete_through_a_completion_channel() {
    let mut c = accel_run();
    c.arg(compile("rdma_loopback"));
    let out = stdout(&run(c));
    assert!(out.contains("RDMA_WRITE and RDMA_READ of 4096 bytes verified"), "{out}");
}

#[test]
fn send_and_receive_between_two_connected_qps_with_the_verbs_errors() {
    let mut c = accel_run();
    c.arg(compile("send_recv"));
    let out = stdout(&run(c));
    assert!(out.contains("send_recv: 0 failure(s)"), "{out}");
}

/// Runs `script` with Debian's python3 (its python3-cryptography) and `args`; its stdout.
fn python(script: &str, args: &[&str]) -> String {
    let mut c = Command::new("/usr/bin/python3");
    c.arg("-c").arg(script).args(args);
    stdout(&run(c)).trim().to_string()
}

#[test]
fn acceldv_crypto_matches_python_cryptography() {
    let (kek, key, hmac_key) = (
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f",
        "4142434445464748494a4b4c4d4e4f505152535455565758",
    );
    let (iv, aad) = ("cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2");
    let wrap = "import sys; from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding as w
print(w(bytes.fromhex(sys.argv[1]), bytes.fromhex(sys.argv[2])).hex())";
    let wrapped = python(wrap, &[kek, key]);
    let mut c = accel_run();
    c.arg(compile_dv("dv_crypto")).args([kek, &wrapped, hmac_key, iv, aad]);
    let out = stdout(&run(c));
    assert!(out.contains("dv_crypto: 0 failure(s)"), "{out}");
    let field = |name: &str| -> String {
        let line = out.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')));
        line.unwrap_or_else(|| panic!("no {name} in:\n{out}")).to_string()
    };
    let check = "import sys, hashlib, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
key, hkey, iv, aad, pt = (bytes.fromhex(a) for a in sys.argv[1:6])
print(AESGCM(key).encrypt(iv, pt, aad).hex(), hashlib.sha256(pt).hexdigest(), hmac.new(hkey, pt, 'sha256').hexdigest())";
    let expected = python(check, &[key, hmac_key, iv, aad, &field("plaintext")]);
    let device = format!("{}{} {} {}", field("ciphertext"), field("tag"), field("sha256"), field("hmac"));
    assert_eq!(device, expected, "ciphertext+tag, SHA-256, HMAC-SHA-256: device vs Python");
    let xts = "import sys
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
pt = bytes.fromhex(sys.argv[1])
out = b''
for unit in range(2):
    e = Cipher(algorithms.AES(pt[:32]), modes.XTS((5 + unit).to_bytes(16, 'little'))).encryptor()
    out += e.update(pt[512 * unit:512 * (unit + 1)]) + e.finalize()
print(out.hex())";
    assert_eq!(field("xts"), python(xts, &[&field("plaintext")]), "AES-128-XTS: device vs Python");
    // The chained block opens with Python's AES-GCM to a gzip stream Python's gzip reads.
    let chain = "import sys, gzip
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
key, iv, aad, sealed, pt = (bytes.fromhex(a) for a in sys.argv[1:6])
print(gzip.decompress(AESGCM(key).decrypt(iv, sealed, aad)) == pt)";
    let sealed = format!("{}{}", field("chain"), field("chain_tag"));
    assert_eq!(python(chain, &[key, iv, aad, &sealed, &field("plaintext")]), "True", "the chained block");
}

/// The `field` line of a program's output (`name hexdigits`).
fn field(out: &str, name: &str) -> String {
    let line = out.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')));
    line.unwrap_or_else(|| panic!("no {name} in:\n{out}")).to_string()
}

/// dv_lists checks its own results (zlib, one-SGE requests, errnos, statuses); here its
/// gathered AES-256-GCM ciphertext and tag are checked against OpenSSL too.
fn check_dv_lists(out: &str) {
    assert!(out.contains("dv_lists: 0 failure(s)"), "{out}");
    let check = "import sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
key, iv, aad, pt = (bytes.fromhex(a) for a in sys.argv[1:5])
print(AESGCM(key).encrypt(iv, pt, aad).hex())";
    let inputs = ["key", "iv", "aad", "plaintext"].map(|name| field(out, name));
    let expected = python(check, &inputs.each_ref().map(String::as_str));
    assert_eq!(format!("{}{}", field(out, "ciphertext"), field(out, "tag")), expected, "gathered AES-256-GCM vs Python");
    assert_eq!(field(out, "plaintext").len(), 2 * 4099, "the whole plaintext printed");
}

#[test]
fn acceldv_lists_gather_and_scatter_and_refuse_bad_lists() {
    let mut c = accel_run();
    c.arg(compile_dv("dv_lists"));
    check_dv_lists(&stdout(&run(c)));
}

/// A hostile program's lists (`examples/c/dv_lists_attack.c`); on the daemon too, where the
/// overlap rules must hold for memory reached by copies.
#[test]
fn acceldv_lists_hold_against_hostile_lists() {
    let mut c = accel_run();
    c.arg(compile_dv("dv_lists_attack"));
    let out = stdout(&run(c));
    assert!(out.contains("dv_lists_attack: 0 failure(s)"), "{out}");
}

#[test]
fn async_events_name_the_qp_block_a_reader_and_go_with_a_destroyed_qp() {
    let mut c = accel_run();
    c.arg(compile("async_events"));
    let out = stdout(&run(c));
    assert!(out.contains("async_events: 0 failure(s)"), "{out}");
}

/// rust-ibverbs, the crate Rust verbs programs use, unmodified: `examples/rust_ibverbs.rs`,
/// which `cargo test` builds beside the tests.
#[test]
fn the_ibverbs_crate_connects_two_qps_and_completes_a_send() {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_accel-run")).parent().unwrap();
    let example = bin_dir.join("examples").join("rust_ibverbs");
    assert!(example.exists(), "{} not built: run `cargo test` (it builds examples)", example.display());
    let mut c = accel_run();
    c.arg(example);
    let out = stdout(&run(c));
    assert!(out.contains("4096 bytes sent from QP"), "{out}");
}

#[test]
fn the_wr_interface_posts_batches_and_aborts_cleanly() {
    let mut c = accel_run();
    c.arg(compile("wr_batch"));
    let out = stdout(&run(c));
    assert!(out.contains("8 RDMA_WRITEs and 8 RDMA_READs"), "{out}");
}

#[test]
fn completion_channels_work_from_threads_with_epoll_shared_and_refuse_a_forked_child() {
    let mut c = accel_run();
    c.arg(compile("channel_threads"));
    let out = stdout(&run(c));
    for expected in [
        "4 threads x 200 rounds of epoll-awaited completions",
        "each named right",
        "a forked child's ibv_create_comp_channel is refused with EPERM",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
}

#[test]
fn c_programs_get_verbs_errors_not_crashes() {
    let mut c = accel_run();
    c.arg(compile("verbs_errors"));
    let out = stdout(&run(c));
    assert!(out.contains("verbs_errors: 0 failure(s)"), "{out}");
}

#[test]
fn acceldv_runs_copy_and_compression_with_their_completion_fields() {
    let mut c = accel_run();
    c.arg(compile_dv("dv_accel"));
    let out = stdout(&run(c));
    assert!(out.contains("(zlib agrees), a 2-part stream, OUTPUT_TOO_SMALL"), "{out}");
}

#[test]
fn the_plugin_exports_acceldv_with_its_symbol_version() {
    let lib = Path::new(env!("CARGO_BIN_EXE_accel-run")).with_file_name("libaccel_rdmav34.so");
    let out = run({
        let mut c = Command::new("objdump");
        c.arg("-T").arg(&lib);
        c
    });
    let table = stdout(&out);
    let versions = [
        ("ACCELDV_1.0", "acceldv_query_device"),
        ("ACCELDV_1.0", "acceldv_create_qp"),
        ("ACCELDV_1.0", "acceldv_qp_ex_from_ibv_qp_ex"),
        ("ACCELDV_1.0", "acceldv_create_comp_stream"),
        ("ACCELDV_1.0", "acceldv_destroy_comp_stream"),
        ("ACCELDV_1.0", "acceldv_poll_cq"),
        ("ACCELDV_1.1", "acceldv_create_crypto_key"),
        ("ACCELDV_1.1", "acceldv_create_wrapped_crypto_key"),
        ("ACCELDV_1.1", "acceldv_destroy_crypto_key"),
    ];
    for (version, name) in versions {
        assert!(table.lines().any(|l| l.contains(version) && l.ends_with(name)), "{name} not exported as {version}:\n{table}");
    }
    let exported = table.lines().filter(|l| l.contains(" acceldv_")).count();
    assert_eq!(exported, versions.len(), "acceldv symbols beyond the list:\n{table}");
    assert!(table.contains("verbs_register_driver_34"), "the private ABI symbol is bound: {table}");
}

#[test]
fn on_demand_paging_through_stock_libibverbs() {
    let mut c = accel_run();
    c.arg(compile("odp_implicit"));
    let out = stdout(&run(c));
    assert!(out.contains("odp_implicit: 0 failure(s)"), "{out}");
}

/// An `accel-simd` on a private socket, killed on drop (built beside accel-run by
/// `bash tests/run.sh`).
struct Daemon {
    child: std::process::Child,
    dir: PathBuf,
}

impl Daemon {
    fn start() -> Daemon {
        let bin = Path::new(env!("CARGO_BIN_EXE_accel-run")).parent().unwrap().join("accel-simd");
        assert!(bin.exists(), "{} is missing: cargo build -p accelverbs-rxe-sim", bin.display());
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("simd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("sock");
        let child = Command::new(bin)
            .args(["--foreground", "--mode", "600", "--socket"])
            .arg(&socket)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        // The daemon creates the socket listening: wait for the socket itself.
        while !socket.exists() {
            assert!(std::time::Instant::now() < deadline, "accel-simd did not listen");
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        Daemon { child, dir }
    }

    fn socket(&self) -> PathBuf {
        self.dir.join("sock")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn verbs_programs_run_on_the_daemons_device() {
    let daemon = Daemon::start();
    for (program, expected) in [
        ("rdma_loopback", "RDMA_WRITE and RDMA_READ of 4096 bytes verified"),
        ("send_recv", "send_recv: 0 failure(s)"),
        ("odp_implicit", "odp_implicit: 0 failure(s)"),
    ] {
        let mut c = accel_run();
        c.arg(compile(program)).env(accelverbs::uapi::daemon::SOCKET_ENV, daemon.socket());
        let out = stdout(&run(c));
        assert!(out.contains(expected), "{program} on the daemon: {out}");
    }
    let mut c = accel_run();
    c.arg(compile_dv("dv_lists")).env(accelverbs::uapi::daemon::SOCKET_ENV, daemon.socket());
    check_dv_lists(&stdout(&run(c)));
    let mut c = accel_run();
    c.arg(compile_dv("dv_lists_attack")).env(accelverbs::uapi::daemon::SOCKET_ENV, daemon.socket());
    let out = stdout(&run(c));
    assert!(out.contains("dv_lists_attack: 0 failure(s)"), "dv_lists_attack on the daemon: {out}");
    let mut c = accel_run();
    c.args(["ibv_devinfo", "-v"]).env(accelverbs::uapi::daemon::SOCKET_ENV, daemon.socket());
    assert!(stdout(&run(c)).contains("accelsim0"));
}
