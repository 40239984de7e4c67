//! `accel gzip` and `accel gunzip` as a user runs them, against GNU gzip's behaviour: round
//! trips through the stock tool, multi-member files, member boundaries at the pipeline's chunk
//! edges, bad files refused with no output left behind, suffix, overwrite, -k, -c and stdin
//! rules, terminals, exit statuses.

mod cli_support;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime};

use cli_support::{accel, assert_exit, mixed, python, stock, text, Scratch, CHUNK, MIB};

#[test]
fn files_round_trip_through_stock_gzip() {
    let dir = Scratch::new("round-trip");
    for (i, len) in [0, 1, MIB].into_iter().enumerate() {
        let data = text(i as u64, len);
        let name = format!("f{len}");
        let gz = format!("{name}.gz");
        dir.write(&name, &data);
        let run = accel(&dir.path, &["gzip", &name], b"");
        assert_exit(&run, 0, &[]);
        assert_eq!((run.stdout.len(), run.stderr.as_str()), (0, ""), "gzip to a file is silent");
        assert!(!dir.exists(&name), "the input goes once compressed");
        assert!(stock("gzip", &["-dc"], &dir.read(&gz)) == data, "{len} bytes: stock gzip -d reads ours");
        let run = accel(&dir.path, &["gunzip", &gz], b"");
        assert_exit(&run, 0, &[]);
        assert!(dir.read(&name) == data && !dir.exists(&gz), "{len} bytes back");
        // And theirs, through accel.
        std::fs::write(dir.file(&gz), stock("gzip", &["-c"], &data)).unwrap();
        std::fs::remove_file(dir.file(&name)).unwrap();
        assert_exit(&accel(&dir.path, &["gzip", "-d", &gz], b""), 0, &[]);
        assert!(dir.read(&name) == data, "{len} bytes of stock gzip");
    }
    assert_eq!(dir.names(), ["f0", "f1", "f1048576"], "no temporary file left");
}

#[test]
fn every_level_is_read_by_stock_gzip_and_the_last_flag_wins() {
    let dir = Scratch::new("levels");
    let data = text(7, 300_000);
    dir.write("f", &data);
    let mut sizes = Vec::new();
    for level in 1..=9 {
        let run = accel(&dir.path, &["gzip", "-c", &format!("-{level}"), "f"], b"");
        assert_exit(&run, 0, &[]);
        assert!(stock("gzip", &["-dc"], &run.stdout) == data, "level {level}");
        sizes.push(run.stdout.len());
    }
    assert!(sizes[0] > sizes[8], "-1 is bigger than -9: {sizes:?}");
    let last = |args: &[&str]| accel(&dir.path, &[&["gzip", "-c"], args, &["f"]].concat(), b"").stdout.len();
    assert_eq!(last(&["-9", "-1"]), sizes[0]);
    assert_eq!(last(&["-1", "-9"]), sizes[8]);
    assert_eq!(last(&["--fast"]), sizes[0]);
    assert_eq!(last(&["--best"]), sizes[8]);
    assert_eq!(last(&[]), sizes[5], "6 by default");
    assert_eq!(last(&["-k9"]), sizes[8], "combined flags");
}

/// ~70 MiB: many chunks, 8 in flight, and the progress bar's path (hidden: stderr is a pipe).
#[test]
fn a_large_file_goes_through_many_chunks_silently() {
    let dir = Scratch::new("large");
    let data = mixed(11, 70 * MIB + 12_345);
    dir.write("big", &data);
    let run = accel(&dir.path, &["gzip", "-1", "-k", "big"], b"");
    assert_exit(&run, 0, &[]);
    assert_eq!(run.stderr, "", "no progress bar without a terminal");
    assert!(stock("gzip", &["-dc"], &dir.read("big.gz")) == data, "stock gzip reads it");
    let run = accel(&dir.path, &["gunzip", "-c", "big.gz"], b"");
    assert_exit(&run, 0, &[]);
    assert_eq!(run.stderr, "");
    assert!(run.stdout == data, "and accel does");
}

#[test]
fn multi_member_stock_files_decode_whole() {
    let dir = Scratch::new("members");
    let (a, b, c) = (text(1, 200_000), mixed(2, 3 * CHUNK), Vec::new());
    let members =
        [stock("gzip", &["-c"], &a), stock("gzip", &["-9c"], &b), stock("gzip", &["-c"], &c), stock("gzip", &["-c"], &a)];
    dir.write("m.gz", &members.concat());
    let run = accel(&dir.path, &["gunzip", "m.gz"], b"");
    assert_exit(&run, 0, &[]);
    assert!(dir.read("m") == [&a[..], &b, &c, &a].concat());
}

/// A gzip member of exactly `total` bytes holding `data` (padded with a header comment), so
/// members can end anywhere relative to the pipeline's chunks.
fn member_of_size(data: &[u8], total: usize) -> Vec<u8> {
    let expr = format!(
        "(lambda c, raw: b'\\x1f\\x8b\\x08\\x10\\0\\0\\0\\0\\0\\xff' + b'c' * ({total} - 19 - len(raw)) + b'\\0' + raw \
         + (zlib.crc32(d) & 0xffffffff).to_bytes(4, 'little') + (len(d) & 0xffffffff).to_bytes(4, 'little'))\
         (None, (lambda o: o.compress(d) + o.flush())(zlib.compressobj(6, zlib.DEFLATED, -15)))"
    );
    let member = python(&expr, data);
    assert_eq!(member.len(), total);
    member
}

#[test]
fn members_and_trailers_at_chunk_edges() {
    let dir = Scratch::new("edges");
    let first = text(3, 150_000);
    let second = text(4, 20_000);
    let next = stock("gzip", &["-c"], &second);
    for end in [CHUNK - 2, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK - 1] {
        let head = member_of_size(&first, end);
        assert!(stock("gzip", &["-dc"], &head) == first, "the crafted member is valid gzip");
        dir.write("m.gz", &[&head[..], &next].concat());
        let run = accel(&dir.path, &["gunzip", "-c", "m.gz"], b"");
        assert_exit(&run, 0, &[]);
        assert!(run.stdout == [&first[..], &second].concat(), "second member after {end} bytes");
        // Zeros after the last member: ignored silently.
        dir.write("z.gz", &[&head[..], &vec![0; CHUNK + 3]].concat());
        let run = accel(&dir.path, &["gunzip", "-c", "z.gz"], b"");
        assert_exit(&run, 0, &[]);
        assert_eq!((run.stdout == first, run.stderr.as_str()), (true, ""), "zeros after {end} bytes");
        // Garbage (here half a magic number, then not): a warning, exit 2, the data kept.
        dir.write("g.gz", &[&head[..], b"\x1f", b"garbage"].concat());
        let run = accel(&dir.path, &["gunzip", "g.gz"], b"");
        assert_exit(&run, 2, &["accel: g.gz: decompression OK, trailing garbage ignored"]);
        assert!(dir.read("g") == first && !dir.exists("g.gz"), "garbage after {end} bytes");
        std::fs::remove_file(dir.file("g")).unwrap();
        // Zeros, then something else: garbage too.
        dir.write("g.gz", &[&head[..], &[0, 0, 1]].concat());
        let run = accel(&dir.path, &["gunzip", "-q", "-c", "g.gz"], b"");
        assert_exit(&run, 2, &[]);
        assert_eq!(run.stderr, "", "-q hides the warning, not the status");
    }
}

#[test]
fn bad_files_fail_naming_the_file_and_leave_nothing_behind() {
    let dir = Scratch::new("bad");
    let data = mixed(5, 2 * MIB);
    let good = stock("gzip", &["-c"], &data);
    let mut crc = good.clone();
    let at = crc.len() - 8;
    crc[at] ^= 1;
    let mut length = good.clone();
    let at = length.len() - 1;
    length[at] ^= 1;
    let mut middle = good.clone();
    for b in &mut middle[good.len() / 2..good.len() / 2 + 64] {
        *b = !*b;
    }
    let cases: [(&str, Vec<u8>, &str); 8] = [
        ("empty.gz", Vec::new(), "unexpected end of file"),
        ("magic.gz", vec![0x1f], "unexpected end of file"),
        ("header.gz", good[..10].to_vec(), "unexpected end of file"),
        ("half.gz", good[..good.len() / 2].to_vec(), "unexpected end of file"),
        ("trailer.gz", good[..good.len() - 3].to_vec(), "unexpected end of file"),
        ("crc.gz", crc, "invalid compressed data"),
        ("length.gz", length, "invalid compressed data"),
        ("text.gz", b"plain text, not gzip".to_vec(), "not in gzip format"),
    ];
    for (name, bytes, message) in &cases {
        dir.write(name, bytes);
        let before = dir.names();
        let run = accel(&dir.path, &["gunzip", name], b"");
        assert_exit(&run, 1, &[&format!("accel: {name}: {message}")]);
        assert_eq!(dir.names(), before, "{name}: no output, no temporary file, the input kept");
    }
    let run = accel(&dir.path, &["gunzip", "half.gz", "missing.gz"], b"");
    assert_exit(&run, 1, &["accel: half.gz:", "accel: missing.gz: No such file or directory"]);
    // The middle flipped: some data may come out first on stdout; the status says it failed.
    dir.write("middle.gz", &middle);
    let run = accel(&dir.path, &["gunzip", "-c", "middle.gz"], b"");
    assert_exit(&run, 1, &["accel: middle.gz: invalid compressed data"]);
    let run = accel(&dir.path, &["gunzip", "-c"], &good[..100]);
    assert_exit(&run, 1, &["accel: stdin: unexpected end of file"]);
}

#[test]
fn an_existing_output_is_kept_without_force() {
    let dir = Scratch::new("exists");
    let data = text(6, 50_000);
    dir.write("a", &data);
    dir.write("a.gz", b"precious");
    let run = accel(&dir.path, &["gzip", "a"], b"");
    assert_exit(&run, 2, &["accel: a.gz: already exists; not overwritten"]);
    assert!(dir.read("a") == data && dir.read("a.gz") == b"precious");
    let run = accel(&dir.path, &["gzip", "-f", "a"], b"");
    assert_exit(&run, 0, &[]);
    assert!(stock("gzip", &["-dc"], &dir.read("a.gz")) == data && !dir.exists("a"));
    dir.write("a", b"precious too");
    let run = accel(&dir.path, &["gunzip", "a.gz"], b"");
    assert_exit(&run, 2, &["accel: a: already exists; not overwritten"]);
    assert_eq!(dir.read("a"), b"precious too");
    let run = accel(&dir.path, &["gunzip", "-f", "a.gz"], b"");
    assert_exit(&run, 0, &[]);
    assert!(dir.read("a") == data && !dir.exists("a.gz"));
}

#[test]
fn keep_stdout_and_stdin() {
    let dir = Scratch::new("streams");
    let data = text(8, 100_000);
    dir.write("a", &data);
    assert_exit(&accel(&dir.path, &["gzip", "-k", "a"], b""), 0, &[]);
    assert!(dir.read("a") == data && dir.exists("a.gz"), "-k keeps the input");
    let packed = dir.read("a.gz");
    assert_exit(&accel(&dir.path, &["gunzip", "-k", "-f", "a.gz"], b""), 0, &[]);
    assert!(dir.read("a") == data && dir.exists("a.gz"), "gunzip -k keeps it too");
    std::fs::remove_file(dir.file("a.gz")).unwrap();

    let run = accel(&dir.path, &["gzip", "-c", "a"], b"");
    assert_exit(&run, 0, &[]);
    assert!(stock("gzip", &["-dc"], &run.stdout) == data);
    assert_eq!(dir.names(), ["a"], "-c: no file written, the input kept");
    let run = accel(&dir.path, &["gzip", "-c", "a", "a"], b"");
    assert!(stock("gzip", &["-dc"], &run.stdout) == [&data[..], &data].concat(), "-c with two files: two members");

    for args in [&["gzip"][..], &["gzip", "-"]] {
        let run = accel(&dir.path, args, &data);
        assert_exit(&run, 0, &[]);
        assert!(stock("gzip", &["-dc"], &run.stdout) == data, "{args:?}: stdin to stdout");
    }
    for args in [&["gunzip"][..], &["gunzip", "-"], &["gzip", "-d"], &["gzip", "-dc", "-"]] {
        let run = accel(&dir.path, args, &packed);
        assert_exit(&run, 0, &[]);
        assert!(run.stdout == data, "{args:?}: stdin to stdout");
    }
    dir.write("b.gz", &packed);
    let run = accel(&dir.path, &["gunzip", "-c", "b.gz"], b"");
    assert!(run.stdout == data && dir.exists("b.gz"), "gunzip -c keeps the input");
    assert_exit(&accel(&dir.path, &["gunzip", "b"], b""), 0, &[]);
    assert!(dir.read("b") == data && !dir.exists("b.gz"), "gunzip FILE finds FILE.gz");
    assert_eq!(dir.names(), ["a", "b"]);
}

#[test]
fn suffix_rules() {
    let dir = Scratch::new("suffix");
    let data = text(9, 10_000);
    let packed = stock("gzip", &["-c"], &data);
    dir.write("notes.txt", &packed);
    let run = accel(&dir.path, &["gunzip", "notes.txt"], b"");
    assert_exit(&run, 2, &["accel: notes.txt: unknown suffix -- ignored"]);
    assert!(dir.read("notes.txt") == packed);
    let run = accel(&dir.path, &["gunzip", "-c", "notes.txt"], b"");
    assert!(run.code == 0 && run.stdout == data, "-c reads any name");
    dir.write("t.tgz", &packed);
    assert_exit(&accel(&dir.path, &["gunzip", "t.tgz"], b""), 0, &[]);
    assert!(dir.read("t.tar") == data, ".tgz becomes .tar");
    dir.write("x.gz", &data);
    let run = accel(&dir.path, &["gzip", "x.gz"], b"");
    assert_exit(&run, 0, &["accel: x.gz: already has .gz suffix -- unchanged"]);
    assert!(dir.read("x.gz") == data);
    assert_exit(&accel(&dir.path, &["gzip", "-f", "x.gz"], b""), 0, &[]);
    assert!(dir.exists("x.gz.gz"), "-f compresses it anyway");
}

#[test]
fn other_file_kinds_and_mixed_statuses() {
    let dir = Scratch::new("kinds");
    std::fs::create_dir(dir.file("d")).unwrap();
    let run = accel(&dir.path, &["gzip", "d"], b"");
    assert_exit(&run, 2, &["accel: d: is a directory -- ignored"]);
    let run = accel(&dir.path, &["gzip", "missing"], b"");
    assert_exit(&run, 1, &["accel: missing: No such file or directory"]);
    dir.write("t", b"text");
    std::os::unix::fs::symlink("t", dir.file("l")).unwrap();
    let run = accel(&dir.path, &["gzip", "l"], b"");
    assert_exit(&run, 1, &["accel: l: is a symbolic link"]);
    std::fs::hard_link(dir.file("t"), dir.file("h")).unwrap();
    let run = accel(&dir.path, &["gzip", "h"], b"");
    assert_exit(&run, 2, &["accel: h: has 1 other link -- file ignored"]);
    let run = accel(&dir.path, &["gzip", "d", "missing", "-q"], b"");
    assert_exit(&run, 1, &["accel: missing:"]);
    assert!(!run.stderr.contains("directory --"), "-q hides warnings: {}", run.stderr);
    let run = accel(&dir.path, &["gzip", "-0", "t"], b"");
    assert_exit(&run, 1, &["-0"]);
}

#[test]
fn mode_and_times_carry_over() {
    let dir = Scratch::new("meta");
    let path = dir.write("a", &text(10, 5000));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    std::fs::File::options().write(true).open(&path).unwrap().set_modified(mtime).unwrap();
    assert_exit(&accel(&dir.path, &["gzip", "a"], b""), 0, &[]);
    let meta = std::fs::metadata(dir.file("a.gz")).unwrap();
    assert_eq!((meta.permissions().mode() & 0o777, meta.modified().unwrap()), (0o640, mtime));
    assert_exit(&accel(&dir.path, &["gunzip", "a.gz"], b""), 0, &[]);
    let meta = std::fs::metadata(dir.file("a")).unwrap();
    assert_eq!((meta.permissions().mode() & 0o777, meta.modified().unwrap()), (0o640, mtime));
}

/// Runs `accel ARGS` with stdout (or stdin) on a pseudo-terminal (Python's pty module).
fn on_terminal(dir: &Scratch, stream: &str, args: &[&str]) -> cli_support::Run {
    let script = format!(
        "import os, pty, subprocess, sys\nm, s = pty.openpty()\n\
         r = subprocess.run(sys.argv[1:], {stream}=s, stderr=subprocess.PIPE)\n\
         sys.stderr.buffer.write(r.stderr)\nsys.exit(r.returncode)"
    );
    let argv = [&["-c", &script, cli_support::accel_bin()][..], args].concat();
    cli_support::run_in(&dir.path, "/usr/bin/python3", &argv, b"")
}

#[test]
fn terminals_are_refused_without_force() {
    let dir = Scratch::new("tty");
    dir.write("a", b"data");
    let run = on_terminal(&dir, "stdout", &["gzip", "-c", "a"]);
    assert_exit(&run, 1, &["accel: stdout: compressed data not written to a terminal. Use -f to force compression."]);
    let run = on_terminal(&dir, "stdout", &["gzip"]);
    assert_exit(&run, 1, &["not written to a terminal"]);
    let run = on_terminal(&dir, "stdin", &["gunzip"]);
    assert_exit(&run, 1, &["accel: stdin: compressed data not read from a terminal. Use -f to force decompression."]);
    let run = on_terminal(&dir, "stdout", &["compress", "--format", "zstd", "a"]);
    assert_exit(&run, 1, &["accel: stdout: compressed data not written to a terminal"]);
    let run = on_terminal(&dir, "stdin", &["decompress", "--format", "zstd"]);
    assert_exit(&run, 1, &["accel: stdin: compressed data not read from a terminal"]);
    assert_eq!(dir.names(), ["a"]);
}

/// With -c, as GNU gzip, a pipe or device operand reads like a file (`gzip -c <(cmd)`); without
/// -c it is still ignored, since nothing could be written beside it.
#[test]
fn stdout_mode_reads_pipes_and_devices() {
    let dir = Scratch::new("special-in");
    let data = text(12, 300_000);
    let run = accel(&dir.path, &["gzip", "-c", "/dev/stdin"], &data);
    assert_exit(&run, 0, &[]);
    assert!(stock("gzip", &["-dc"], &run.stdout) == data, "gzip -c of a pipe");
    let packed = run.stdout;
    let run = accel(&dir.path, &["gunzip", "-c", "/dev/stdin"], &packed);
    assert_exit(&run, 0, &[]);
    assert!(run.stdout == data, "gunzip -c of a pipe");
    let run = accel(&dir.path, &["gzip", "-c", "/dev/null"], b"");
    assert_exit(&run, 0, &[]);
    assert_eq!(stock("gzip", &["-dc"], &run.stdout), b"", "an empty member");
    let run = accel(&dir.path, &["gzip", "/dev/null"], b"");
    assert_exit(&run, 2, &["accel: /dev/null: is not a directory or a regular file -- ignored"]);
    assert_eq!(dir.names(), Vec::<String>::new());
}

/// A message that cannot be written (stderr on a full device) does not turn an error into a
/// panic (status 101): the status is still gzip's.
#[test]
fn an_unwritable_stderr_keeps_the_status() {
    let dir = Scratch::new("full-stderr");
    dir.write("a", &text(13, 1000));
    for (args, code) in [(&["gzip", "missing"][..], 1), (&["gzip", "-v", "-k", "a"], 0), (&["gunzip", "a"], 2)] {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("open /dev/full");
        let status = std::process::Command::new(cli_support::accel_bin())
            .args(args)
            .current_dir(&dir.path)
            .stdin(std::process::Stdio::null())
            .stderr(full)
            .status()
            .expect("run accel");
        assert_eq!(status.code(), Some(code), "{args:?}");
    }
}

/// As gzip: set-user-ID and set-group-ID files are ignored (the output would come back
/// without those bits), a sticky one too unless -f; -c reads them all.
#[test]
fn set_id_and_sticky_files_are_ignored_as_gzip_ignores_them() {
    let dir = Scratch::new("set-id");
    let data = text(14, 1000);
    for (name, mode, message) in [
        ("suid", 0o4755, "accel: suid: is set-user-ID on execution -- ignored"),
        ("sgid", 0o2755, "accel: sgid: is set-group-ID on execution -- ignored"),
        ("sticky", 0o1644, "accel: sticky: has the sticky bit set -- file ignored"),
    ] {
        let path = dir.write(name, &data);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        assert_exit(&accel(&dir.path, &["gzip", name], b""), 2, &[message]);
        let run = accel(&dir.path, &["gzip", "-c", name], b"");
        assert_exit(&run, 0, &[]);
        assert!(stock("gzip", &["-dc"], &run.stdout) == data, "{name}: -c reads it");
    }
    assert_exit(&accel(&dir.path, &["gzip", "-f", "suid", "sgid"], b""), 2, &["set-user-ID", "set-group-ID"]);
    assert_exit(&accel(&dir.path, &["gzip", "-f", "sticky"], b""), 0, &[]);
    assert_eq!(dir.names(), ["sgid", "sticky.gz", "suid"]);
}

/// As gunzip, a suffix in capitals counts: `A.GZ` becomes `A`, `B.TGZ` `B.tar`; gzip leaves a
/// name with one alone.
#[test]
fn suffixes_in_any_case() {
    let dir = Scratch::new("suffix-case");
    let data = text(15, 10_000);
    let packed = stock("gzip", &["-c"], &data);
    dir.write("A.GZ", &packed);
    dir.write("B.TGZ", &packed);
    assert_exit(&accel(&dir.path, &["gunzip", "A.GZ", "B.TGZ"], b""), 0, &[]);
    assert!(dir.read("A") == data && dir.read("B.tar") == data);
    let run = accel(&dir.path, &["gzip", "-k", "A"], b"");
    assert_exit(&run, 0, &[]);
    dir.write("C.Gz", &data);
    let run = accel(&dir.path, &["gzip", "C.Gz"], b"");
    assert_exit(&run, 0, &["accel: C.Gz: already has .Gz suffix -- unchanged"]);
    assert_eq!(dir.names(), ["A", "A.gz", "B.tar", "C.Gz"]);
}

/// Past the file-size limit (`ulimit -f`) a file fails like a full disk: named, its partial
/// output removed, the other files still done, where SIGXFSZ used to end the run and leave
/// the temporary file behind.
#[test]
fn the_file_size_limit_fails_one_file_cleanly() {
    use std::os::unix::process::CommandExt;

    let dir = Scratch::new("fsize");
    let big = cli_support::noise(16, MIB);
    dir.write("big", &big);
    dir.write("small", &text(16, 1000));
    let mut command = std::process::Command::new(cli_support::accel_bin());
    command.args(["gzip", "big", "small"]).current_dir(&dir.path).stdin(std::process::Stdio::null());
    // SAFETY: between fork and exec, only setrlimit, which is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: 256 << 10, rlim_max: 256 << 10 };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    };
    let out = command.output().expect("run accel");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("accel: big.gz: File too large"), "{stderr}");
    assert_eq!(dir.names(), ["big", "small.gz"]);
    assert!(dir.read("big") == big);
}

/// A warning to a stderr whose reader is gone ends the run by SIGPIPE, as it ends gzip, and
/// the partial output goes with it (it was left behind as a temporary file).
#[test]
fn a_closed_stderr_pipe_leaves_no_temporary_file() {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::process::ExitStatusExt;

    let dir = Scratch::new("stderr-pipe");
    let data = text(17, 1000);
    // "trailing garbage ignored" is warned before the output is committed.
    let packed = [stock("gzip", &["-c"], &data), b"garbage".to_vec()].concat();
    dir.write("a.gz", &packed);
    let mut ends = [0; 2];
    // SAFETY: `ends` has room for the two descriptors pipe() returns.
    assert_eq!(unsafe { libc::pipe2(ends.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both descriptors were just created and are owned here alone.
    let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(ends[0]), OwnedFd::from_raw_fd(ends[1])) };
    drop(read_end);
    let status = std::process::Command::new(cli_support::accel_bin())
        .args(["gunzip", "a.gz"])
        .current_dir(&dir.path)
        .stdin(std::process::Stdio::null())
        .stderr(write_end)
        .status()
        .expect("run accel");
    assert_eq!(status.signal(), Some(libc::SIGPIPE));
    assert_eq!(dir.names(), ["a.gz"], "no temporary file left");
    assert!(dir.read("a.gz") == packed);
}

/// `gunzip -d` (and `--decompress`) is taken, as GNU gunzip, which is `gzip -d`, takes it.
#[test]
fn gunzip_takes_gzips_decompress_flag() {
    let dir = Scratch::new("gunzip-d");
    let data = text(19, 1000);
    dir.write("a.gz", &stock("gzip", &["-c"], &data));
    for flags in [&["-dc"][..], &["--decompress", "-c"]] {
        let run = accel(&dir.path, &[&["gunzip"][..], flags, &["a.gz"]].concat(), b"");
        assert_exit(&run, 0, &[]);
        assert!(run.stdout == data, "{flags:?}");
    }
}

/// As gunzip -c: what decodes before damage reaches standard output (how a damaged archive is
/// recovered), here a whole member before a broken one in the same request; the status is 1.
#[test]
fn stdout_keeps_what_decoded_before_the_damage() {
    let dir = Scratch::new("recover");
    let data = text(20, 100_000);
    let damaged = [stock("gzip", &["-c"], &data), b"\x1f\x8b\x08\x00junkjunkjunkjunk".to_vec()].concat();
    dir.write("a.gz", &damaged);
    let run = accel(&dir.path, &["gunzip", "-c", "a.gz"], b"");
    assert_exit(&run, 1, &["accel: a.gz: invalid compressed data"]);
    assert!(run.stdout == data, "the first member: {} of {} bytes", run.stdout.len(), data.len());
    let run = accel(&dir.path, &["gunzip", "a.gz"], b"");
    assert_exit(&run, 1, &["accel: a.gz: invalid compressed data"]);
    assert_eq!(dir.names(), ["a.gz"], "a file output is still all or nothing");
}
