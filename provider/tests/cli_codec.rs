//! `accel compress` and `accel decompress` in every format, checked against the stock tools
//! (gzip, zstd, lz4, Python's zlib and lz4.block), with the level range, the lz4-block limits,
//! output files written whole or not at all, and nothing but data on standard output.

mod cli_support;

use cli_support::{accel, assert_exit, mixed, noise, python, stock, text, Scratch, MIB};

/// Format name, the stock decoder of ours, the stock encoder of theirs.
type Stock = (&'static str, fn(&[u8]) -> Vec<u8>, fn(&[u8]) -> Vec<u8>);

const STOCK: [Stock; 5] = [
    ("gzip", |d| stock("gzip", &["-dc"], d), |d| stock("gzip", &["-c"], d)),
    ("zstd", |d| stock("zstd", &["-dcq"], d), |d| stock("zstd", &["-cq"], d)),
    ("lz4", |d| stock("lz4", &["-dcq"], d), |d| stock("lz4", &["-cq"], d)),
    ("zlib", |d| python("zlib.decompress(d)", d), |d| python("zlib.compress(d)", d)),
    (
        "deflate",
        |d| python("zlib.decompress(d, -15)", d),
        |d| python("(lambda o: o.compress(d) + o.flush())(zlib.compressobj(6, zlib.DEFLATED, -15))", d),
    ),
];

#[test]
fn every_stream_format_round_trips_with_the_stock_tools() {
    let dir = Scratch::new("formats");
    for (i, len) in [0, 1, MIB].into_iter().enumerate() {
        let data = mixed(i as u64, len);
        dir.write("in", &data);
        for (format, decode, encode) in STOCK {
            let run = accel(&dir.path, &["compress", "--format", format, "in"], b"");
            assert_exit(&run, 0, &[]);
            assert_eq!(run.stderr, "");
            assert!(decode(&run.stdout) == data, "{format}, {len} bytes: the stock tool reads ours");
            let theirs = encode(&data);
            let run = accel(&dir.path, &["decompress", "--format", format], &theirs);
            assert_exit(&run, 0, &[]);
            assert!(run.stdout == data, "{format}, {len} bytes: we read the stock tool's");
        }
    }
}

#[test]
fn levels_at_both_ends_survive_incompressible_stretches() {
    let dir = Scratch::new("levels");
    let data = [noise(1, 3 * MIB), mixed(2, 3 * MIB)].concat();
    dir.write("in", &data);
    for (format, low, high) in
        [("gzip", "0", "9"), ("zlib", "1", "9"), ("deflate", "0", "9"), ("lz4", "0", "12"), ("zstd", "-128", "19")]
    {
        for level in [low, high] {
            let run = accel(&dir.path, &["compress", "--format", format, "--level", level, "-o", "out", "in"], b"");
            assert_exit(&run, 0, &[]);
            assert_eq!((run.stdout.len(), run.stderr.as_str()), (0, ""), "-o: nothing on stdout");
            let decode = STOCK.iter().find(|s| s.0 == format).map(|s| s.1).unwrap();
            assert!(decode(&dir.read("out")) == data, "{format} level {level}");
            let run = accel(&dir.path, &["decompress", "--format", format, "-f", "-o", "back", "out"], b"");
            assert_exit(&run, 0, &[]);
            assert!(dir.read("back") == data, "{format} level {level} back");
            std::fs::remove_file(dir.file("out")).unwrap();
        }
    }
}

#[test]
fn a_large_stream_in_each_fast_format() {
    let dir = Scratch::new("large");
    let data = mixed(3, 70 * MIB + 777);
    dir.write("big", &data);
    for (format, decode, _) in [STOCK[1], STOCK[2]] {
        let run = accel(&dir.path, &["compress", "--format", format, "-o", "big.c", "big"], b"");
        assert_exit(&run, 0, &[]);
        assert_eq!(run.stderr, "", "no progress bar without a terminal");
        assert!(decode(&dir.read("big.c")) == data, "{format}");
        let run = accel(&dir.path, &["decompress", "--format", format, "big.c"], b"");
        assert_exit(&run, 0, &[]);
        assert!(run.stdout == data, "{format} back");
        std::fs::remove_file(dir.file("big.c")).unwrap();
    }
}

#[test]
fn a_level_outside_the_range_names_the_range() {
    let dir = Scratch::new("bad-level");
    dir.write("in", b"data");
    for (format, level, range) in [
        ("gzip", "10", "0 to 9"),
        ("lz4", "13", "0 to 12"),
        ("zstd", "20", "-128 to 19"),
        ("zlib", "-1", "0 to 9"),
        ("gzip", "200", "0 to 9"),
        ("zstd", "-1000", "-128 to 19"),
    ] {
        let run = accel(&dir.path, &["compress", "--format", format, "--level", level, "-o", "out", "in"], b"");
        assert_exit(&run, 1, &[&format!("level {level} is outside {format}'s levels {range}")]);
        assert!(!dir.exists("out"));
    }
    let run = accel(&dir.path, &["compress", "--format", "brotli", "in"], b"");
    assert_exit(&run, 1, &["brotli"]);
}

#[test]
fn lz4_blocks_are_one_request_with_stated_limits() {
    let dir = Scratch::new("lz4-block");
    for len in [0, 1, MIB] {
        let data = text(len as u64, len);
        dir.write("in", &data);
        let run = accel(&dir.path, &["compress", "--format", "lz4-block", "--level", "9", "in"], b"");
        assert_exit(&run, 0, &[]);
        let back = python(&format!("lz4.block.decompress(d, uncompressed_size={})", len.max(1)), &run.stdout);
        assert!(back == data, "{len} bytes: Python's lz4.block reads ours");
        let theirs = python("lz4.block.compress(d, store_size=False)", &data);
        let run = accel(&dir.path, &["decompress", "--format", "lz4-block", "--size", &len.to_string()], &theirs);
        assert_exit(&run, 0, &[]);
        assert!(run.stdout == data, "{len} bytes of theirs");
    }
    let packed = python("lz4.block.compress(d, store_size=False)", &text(1, 100_000));
    let run = accel(&dir.path, &["decompress", "--format", "lz4-block"], &packed);
    assert_exit(&run, 1, &["accel: stdin: lz4-block decompression needs --size N, the decompressed size"]);
    let run = accel(&dir.path, &["decompress", "--format", "lz4-block", "--size", "1000"], &packed);
    assert_exit(&run, 1, &["the block decompresses to more than --size 1000 bytes"]);
    let run = accel(&dir.path, &["decompress", "--format", "lz4-block", "--size", "1m"], &packed);
    assert!(run.code == 0 && run.stdout == text(1, 100_000), "a larger --size is fine");
    let run = accel(&dir.path, &["decompress", "--format", "lz4-block", "--size", "65m"], &packed);
    assert_exit(&run, 1, &["over the lz4-block limit of 64 MiB"]);
    let run = accel(&dir.path, &["decompress", "--format", "zstd", "--size", "1m"], b"");
    assert_exit(&run, 1, &["--size", "lz4-block only"]);
    // One byte over the limit (a sparse file: cheap to make).
    let big = std::fs::File::create(dir.file("big")).unwrap();
    big.set_len(64 * MIB as u64 + 1).unwrap();
    let run = accel(&dir.path, &["compress", "--format", "lz4-block", "-o", "big.lz4", "big"], b"");
    assert_exit(&run, 1, &["accel: big: the input is over the lz4-block limit of 64 MiB"]);
    assert!(!dir.exists("big.lz4"));
    big.set_len(64 * MIB as u64).unwrap();
    let run = accel(&dir.path, &["compress", "--format", "lz4-block", "-o", "big.lz4", "big"], b"");
    assert_exit(&run, 0, &[]);
    let run = accel(&dir.path, &["decompress", "--format", "lz4-block", "--size", "64m", "big.lz4"], b"");
    assert!(run.code == 0 && run.stdout.len() == 64 * MIB && run.stdout.iter().all(|&b| b == 0), "exactly the limit");
}

#[test]
fn bad_input_leaves_no_output_file() {
    let dir = Scratch::new("bad");
    let data = mixed(4, MIB);
    for (format, _, encode) in STOCK {
        let good = encode(&data);
        let mut corrupt = good.clone();
        for b in &mut corrupt[good.len() / 3..good.len() / 3 + 32] {
            *b = !*b;
        }
        let cases = [
            ("truncated", &good[..good.len() * 2 / 3], "unexpected end of file"),
            ("corrupt", &corrupt[..], "invalid compressed data"),
        ];
        // Raw deflate has no checksum: flipped bytes may well decode, to something else.
        let cases = if format == "deflate" { &cases[..1] } else { &cases[..] };
        for &(what, bytes, message) in cases {
            dir.write("in", bytes);
            let run = accel(&dir.path, &["decompress", "--format", format, "-o", "out", "in"], b"");
            assert_exit(&run, 1, &[&format!("accel: in: {message}")]);
            assert_eq!(dir.names(), ["in"], "{format} {what}: no output, no temporary file");
        }
    }
    let run = accel(&dir.path, &["decompress", "--format", "gzip", "-o", "out"], b"");
    assert_exit(&run, 1, &["accel: stdin: unexpected end of file"]);
    let good = stock("gzip", &["-c"], &data);
    let run = accel(&dir.path, &["decompress", "--format", "gzip"], &[&good[..], b"trailing"].concat());
    assert_exit(&run, 2, &["accel: stdin: decompression OK, trailing garbage ignored"]);
    assert!(run.stdout == data);
}

#[test]
fn outputs_are_replaced_only_with_force() {
    let dir = Scratch::new("force");
    dir.write("in", &text(5, 1000));
    dir.write("out", b"precious");
    let run = accel(&dir.path, &["compress", "--format", "zstd", "-o", "out", "in"], b"");
    assert_exit(&run, 1, &["accel: out: already exists; not overwritten"]);
    assert_eq!(dir.read("out"), b"precious");
    let run = accel(&dir.path, &["compress", "--format", "zstd", "-f", "-o", "out", "in"], b"");
    assert_exit(&run, 0, &[]);
    assert!(stock("zstd", &["-dcq"], &dir.read("out")) == text(5, 1000));
    let run = accel(&dir.path, &["compress", "--format", "zstd", "-o", "out2", "missing"], b"");
    assert_exit(&run, 1, &["accel: missing: No such file or directory"]);
    assert_eq!(dir.names(), ["in", "out"]);
}

#[test]
fn demo_prints_ratio_and_throughput_beside_the_library() {
    let dir = Scratch::new("demo");
    let formats = "gzip,zstd,lz4,lz4-block,zlib,deflate";
    let run = accel(&dir.path, &["demo", "--size", "4m", "--format", formats, "--repeat", "1", "--save", "sample"], b"");
    assert_exit(&run, 0, &[]);
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(out.contains("cpu: ") && out.contains("medians of 1 runs"), "{out}");
    assert!(out.contains("ratio") && out.contains("library") && out.contains("dev/lib") && out.contains("spread"), "{out}");
    let rows: Vec<&str> = out.lines().filter(|l| l.ends_with(" ok")).collect();
    assert_eq!(rows.len(), 6, "{out}");
    for row in rows {
        // format, level, size, unit, ratio, then device, library and their ratio for each
        // direction: every rate a positive number.
        let cells: Vec<&str> = row.split_whitespace().collect();
        for rate in [&cells[5], &cells[6], &cells[8], &cells[9]] {
            assert!(rate.parse::<f64>().is_ok_and(|r| r > 0.0), "{row}");
        }
    }
    assert_eq!(dir.read("sample").len(), 4 * MIB);

    let run = accel(&dir.path, &["demo", "--size", "4m", "--repeat", "0"], b"");
    assert_exit(&run, 1, &["accel: --repeat: 0 is outside 1 to 100"]);
}

/// An empty sample measures nothing: `--size 0` is refused rather than printing rows of 0.0 MB/s
/// and a 0.00x ratio marked "ok".
#[test]
fn demo_refuses_an_empty_sample() {
    let dir = Scratch::new("demo-empty");
    let run = accel(&dir.path, &["demo", "--size", "0", "--repeat", "1"], b"");
    assert_exit(&run, 1, &["accel: --size: "]);
    assert_eq!(String::from_utf8_lossy(&run.stdout), "", "no table");
}

/// Every row's cells line up under the header's, lz4-block's longer name included.
#[test]
fn demo_rows_line_up_under_the_header() {
    let dir = Scratch::new("demo-columns");
    let run = accel(&dir.path, &["demo", "--size", "64k", "--format", "lz4-block,gzip", "--repeat", "1"], b"");
    assert_exit(&run, 0, &[]);
    let out = String::from_utf8_lossy(&run.stdout);
    let header = out.lines().find(|l| l.starts_with("format")).expect("a header");
    // Where the level column ends (its values are right-aligned under "level").
    let level_end = header.find("level").unwrap() + "level".len();
    let rows: Vec<&str> = out.lines().filter(|l| l.ends_with(" ok")).collect();
    assert_eq!(rows.len(), 2, "{out}");
    for row in rows {
        let name = row.split_whitespace().next().unwrap();
        let level = row.split_whitespace().nth(1).unwrap();
        let end = row[name.len()..].find(level).unwrap() + name.len() + level.len();
        assert_eq!(end, level_end, "{name}'s level is not under the header's:\n{out}");
        assert_eq!(row.len() - "ok".len(), header.len() - "check".len(), "{name}'s row is not as wide as the header:\n{out}");
    }
}

/// SIGTERM mid-run, or SIGXCPU (a CPU time limit, `ulimit -t`, as gzip handles it): the process
/// ends by the signal and the temporary output goes with it.
#[test]
fn an_interrupt_removes_the_partial_output() {
    use std::io::Write;
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};

    for sig in [libc::SIGTERM, libc::SIGXCPU] {
        let dir = Scratch::new(&format!("interrupt-{sig}"));
        let mut child = Command::new(cli_support::accel_bin())
            .args(["compress", "--format", "gzip", "-o", "out.gz"])
            .current_dir(&dir.path)
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start accel");
        let mut stdin = child.stdin.take().expect("stdin pipe");
        // Once this much went through a 64 KiB pipe, accel is reading, past creating its output.
        stdin.write_all(&text(1, 4 * MIB)).expect("feed accel");
        assert_eq!(dir.names().len(), 1, "the temporary output exists: {:?}", dir.names());
        // SAFETY: signals our own child, which has not been waited for (its pid is still ours).
        assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, sig) }, 0);
        let status = child.wait().expect("wait for accel");
        drop(stdin);
        assert_eq!(status.signal(), Some(sig));
        // SIGXCPU's default action also dumps core, where the system is set to keep one.
        let left: Vec<String> = dir.names().into_iter().filter(|name| !name.starts_with("core")).collect();
        assert_eq!(left, Vec::<String>::new(), "signal {sig}: nothing left behind");
    }
}

/// `-o` naming a directory (`.`, one that exists, or any path ending in `/`) is refused before
/// any input is read, where it was compressed whole and then failed at the rename.
#[test]
fn an_output_directory_is_refused_before_any_work() {
    let dir = Scratch::new("output-dir");
    dir.write("in", &text(2, 1000));
    std::fs::create_dir(dir.path.join("sub")).expect("make sub");
    for output in [".", "sub", "sub/", "new/"] {
        let run = accel(&dir.path, &["compress", "--format", "gzip", "-f", "-o", output, "in"], b"");
        assert_exit(&run, 1, &[&format!("accel: {output}: is a directory")]);
        assert_eq!(dir.names(), ["in", "sub"], "-o {output}");
        assert_eq!(dir.read("in"), text(2, 1000));
    }
}

/// `-o` naming a device or FIFO (here through a link to /dev/null, and a FIFO) writes into it:
/// renaming a finished file over it would have replaced the node itself (as root, /dev/null).
#[test]
fn an_output_device_or_fifo_is_written_in_place() {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let dir = Scratch::new("special-out");
    let data = text(6, 300_000);
    dir.write("in", &data);
    std::os::unix::fs::symlink("/dev/null", dir.file("null")).unwrap();
    for args in [&["-o", "null"][..], &["-f", "-o", "null"][..]] {
        let run = accel(&dir.path, &[&["compress", "--format", "gzip", "in"][..], args].concat(), b"");
        assert_exit(&run, 0, &[]);
        assert_eq!(std::fs::read_link(dir.file("null")).unwrap(), std::path::Path::new("/dev/null"), "{args:?}");
    }

    let fifo = dir.file("fifo");
    let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates the node.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
    // The read end stays open throughout, so accel's open does not wait for a reader. With no
    // writer a read returns 0 at once, before accel opens the FIFO as after it closed it (or
    // if it never opens it): the reader reads on until accel has exited.
    let read_end =
        std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(&fifo).expect("open the FIFO's read end");
    // SAFETY: clears O_NONBLOCK on a descriptor this test owns.
    assert_eq!(unsafe { libc::fcntl(read_end.as_raw_fd(), libc::F_SETFL, 0) }, 0);
    let exited = Arc::new(AtomicBool::new(false));
    let reader = std::thread::spawn({
        let exited = Arc::clone(&exited);
        move || {
            let mut bytes = Vec::new();
            let mut buf = vec![0; 1 << 16];
            loop {
                // Checked before the read: the read after accel's exit drains what it left.
                let done = exited.load(Ordering::SeqCst);
                match (&read_end).read(&mut buf).expect("read the FIFO") {
                    0 if done => return bytes,
                    0 => std::thread::sleep(std::time::Duration::from_millis(5)),
                    n => bytes.extend_from_slice(&buf[..n]),
                }
            }
        }
    });
    let run = accel(&dir.path, &["compress", "--format", "gzip", "-o", "fifo", "in"], b"");
    exited.store(true, Ordering::SeqCst);
    assert_exit(&run, 0, &[]);
    assert!(stock("gzip", &["-dc"], &reader.join().unwrap()) == data, "the data went through the FIFO");
    assert!(std::fs::symlink_metadata(dir.file("fifo")).unwrap().file_type().is_fifo(), "still a FIFO");
    assert_eq!(dir.names(), ["fifo", "in", "null"], "no temporary file left");
}

/// A signal ignored when accel starts (`nohup` ignores SIGHUP) stays ignored: the run goes on
/// and completes its output.
#[test]
fn an_ignored_hangup_stays_ignored() {
    use std::io::Write;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};

    let dir = Scratch::new("nohup");
    let data = text(7, 8 * MIB);
    let mut command = Command::new(cli_support::accel_bin());
    command.args(["compress", "--format", "gzip", "-o", "out.gz"]).current_dir(&dir.path).stdin(Stdio::piped());
    // SAFETY: between fork and exec, only signal(), which is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            Ok(())
        })
    };
    let mut child = command.spawn().expect("start accel");
    let mut stdin = child.stdin.take().expect("stdin pipe");
    // Once this much went through a 64 KiB pipe, accel is reading, past creating its output.
    stdin.write_all(&data[..4 * MIB]).expect("feed accel");
    // SAFETY: signals our own child, which has not been waited for (its pid is still ours).
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGHUP) }, 0);
    // A killed accel closed the pipe: the rest does not go in, and the status tells.
    let _ = stdin.write_all(&data[4 * MIB..]);
    drop(stdin);
    let status = child.wait().expect("wait for accel");
    assert!(status.success(), "accel should have ignored SIGHUP: {status:?}");
    assert!(stock("gzip", &["-dc"], &dir.read("out.gz")) == data);
}

/// `-f -o LINK` replaces the file the link leads to and keeps the link, as a shell's `>`
/// would: `-o /dev/stdout` (here a link of our own to /proc/self/fd/1) with standard output
/// on a file writes that file, where renaming over the link left it empty and broke the link.
#[test]
fn an_output_link_is_written_through() {
    use std::process::{Command, Stdio};

    let dir = Scratch::new("link-out");
    let data = text(8, 100_000);
    dir.write("in", &data);
    dir.write("target", b"old");
    std::os::unix::fs::symlink("target", dir.file("link")).unwrap();
    let run = accel(&dir.path, &["compress", "--format", "gzip", "-f", "-o", "link", "in"], b"");
    assert_exit(&run, 0, &[]);
    assert_eq!(std::fs::read_link(dir.file("link")).unwrap(), std::path::Path::new("target"), "still a link");
    assert!(stock("gzip", &["-dc"], &dir.read("target")) == data, "the target holds the output");

    std::os::unix::fs::symlink("/proc/self/fd/1", dir.file("stdout")).unwrap();
    let captured = std::fs::File::create(dir.file("captured")).unwrap();
    let status = Command::new(cli_support::accel_bin())
        .args(["compress", "--format", "gzip", "-f", "-o", "stdout", "in"])
        .current_dir(&dir.path)
        .stdin(Stdio::null())
        .stdout(captured)
        .status()
        .expect("run accel");
    assert!(status.success());
    assert_eq!(std::fs::read_link(dir.file("stdout")).unwrap(), std::path::Path::new("/proc/self/fd/1"));
    assert!(stock("gzip", &["-dc"], &dir.read("captured")) == data, "standard output's file holds the output");
    assert_eq!(dir.names(), ["captured", "in", "link", "stdout", "target"]);
}
