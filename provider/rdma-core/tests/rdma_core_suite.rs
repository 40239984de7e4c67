//! rdma-core's own python suite (pyverbs), as Debian ships it with the rdma-core package, run
//! against the device under accel-run: its device, PD, MR, CQ and completion-channel modules
//! must pass, or skip for a reason the suite itself gives for a capability the device lacks.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// Where Debian's rdma-core package puts the suite (some modules gzipped).
const SUITE: &str = "/usr/share/doc/rdma-core/tests";

/// The modules this device answers for.
const MODULES: [&str; 5] = ["test_device", "test_pd", "test_mr", "test_cq", "test_cq_events"];

/// Skip reasons that name a capability the device does not have (device memory, memory
/// windows, extended CQs, XRC, UD QPs, re-registration of MRs), or hardware this machine lacks
/// (a GPU for dma-buf).
const ACCEPTED_SKIPS: [&str; 12] = [
    "Device memory is not supported",
    "Allocating dmabuf is not supported",
    "Device /dev/dri/renderD",
    "Lack of permission to access /dev/dri/",
    "Reg dma-buf MR is not supported by the RDMA driver",
    "Reg MR with MW access is not supported",
    "Rereg MR is not supported",
    "Create QP type 4 is not supported",
    "Create Extended CQ is not supported",
    "Create memory window of type 3 is not supported",
    "Create XRCD is not supported",
    "All gid indices populated, cannot check bad flow",
];

#[test]
fn rdma_cores_device_pd_mr_cq_and_channel_tests_pass_or_skip_for_a_missing_capability() {
    assert!(Path::new(SUITE).is_dir(), "{SUITE} is missing: install Debian's rdma-core and python3-pyverbs (tests/run.sh does)");
    let copy = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rdma-core-tests");
    let _ = std::fs::remove_dir_all(&copy);
    let status = Command::new("cp").arg("-r").arg(SUITE).arg(&copy).status().unwrap();
    assert!(status.success(), "copying {SUITE}");
    let gz: Vec<_> = std::fs::read_dir(&copy)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "gz"))
        .collect();
    let status = Command::new("gzip").arg("-d").arg("-f").args(&gz).status().unwrap();
    assert!(status.success(), "gunzipping the suite");

    let mut run = Command::new(env!("CARGO_BIN_EXE_accel-run"));
    // Debian's python3: pyverbs is packaged for it, not for other interpreters on PATH.
    run.current_dir(&copy).args(["/usr/bin/python3", "run_tests.py", "-v", "--dev", "accelsim0"]);
    for module in MODULES {
        run.args(["-k", module]);
    }
    let out = run.output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);

    let ran = log.lines().find_map(|l| l.strip_prefix("Ran ")).unwrap_or_else(|| panic!("no summary in:\n{log}"));
    let mut skips: BTreeMap<String, usize> = BTreeMap::new();
    for line in log.lines() {
        if let Some((_, reason)) = line.split_once("... skipped '") {
            *skips.entry(reason.trim_end_matches('\'').to_string()).or_default() += 1;
        }
    }
    let passed = log.lines().filter(|l| l.ends_with("... ok")).count();
    println!("rdma-core suite ({}): ran {ran}; {passed} passed; skipped: {skips:#?}", MODULES.join(", "));
    assert!(out.status.success(), "the suite failed:\n{log}");
    for reason in skips.keys() {
        assert!(ACCEPTED_SKIPS.iter().any(|a| reason.starts_with(a)), "a skip for a reason not accepted: {reason:?}\n{log}");
    }
    assert!(passed >= 20, "fewer tests passed than the device answers for ({passed}):\n{log}");
}
