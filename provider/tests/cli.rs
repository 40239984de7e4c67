//! The `accel` command line, run as a user would.

use std::process::Command;

fn accel(args: &[&str]) -> (bool, String, String) {
    let (code, out, err) = accel_status(args);
    (code == Some(0), out, err)
}

fn accel_status(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_accel")).args(args).output().expect("run accel");
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn devinfo_lists_the_soft_device_and_its_opcodes() {
    let (ok, out, err) = accel(&["devinfo"]);
    assert!(ok, "{err}");
    assert!(out.contains("hca_id:\taccelsim0"), "{out}");
    assert!(out.contains("driver:\t\t\taccel"), "{out}");
    assert!(out.contains("opcodes:\t\tNOP COPY RDMA_WRITE RDMA_READ SEND COMPRESS DECOMPRESS ENCRYPT DECRYPT DIGEST COMPRESS_ENCRYPT DECRYPT_DECOMPRESS\n"), "{out}");
    assert!(out.contains("compress_formats:\tDeflate Zlib Gzip Lz4Frame Lz4Block Zstd\n"), "{out}");
    assert!(out.contains("PORT_ACTIVE"), "{out}");
}

#[test]
fn perf_reports_a_row_per_size_and_depth() {
    let (ok, out, err) = accel(&["perf", "copy", "--size", "4k,64k", "--qd", "1,8", "--seconds", "0.02", "--repeat", "1"]);
    assert!(ok, "{err}");
    let rows: Vec<&str> = out.lines().filter(|l| l.contains("KiB")).collect();
    assert_eq!(rows.len(), 4, "{out}");
    assert!(out.contains("memcpy MB/s") && out.contains("ratio"), "{out}");
    assert!(out.contains("# cpu: ") && out.contains("page offset"), "the header says what ran where: {out}");
    for (op, format) in [("compress", "gzip"), ("decompress", "zstd"), ("compress", "lz4-block")] {
        let args = ["perf", op, "--format", format, "--size", "4k", "--qd", "1,4", "--seconds", "0.02", "--repeat", "1"];
        let (ok, out, err) = accel(&args);
        assert!(ok, "{op} {format}: {err}");
        assert_eq!(out.lines().filter(|l| l.trim_start().starts_with("4KiB")).count(), 2, "{out}");
        assert!(out.contains("direct MB/s"), "{out}");
    }
    for policy in ["inline", "adaptive"] {
        let (ok, out, err) = accel(&["perf", "nop", "--qd", "4", "--seconds", "0.02", "--repeat", "1", "--policy", policy]);
        assert!(ok, "{policy}: {err}");
        assert!(out.lines().any(|l| l.trim_start().starts_with("nop")), "{out}");
    }
}

/// The smoke run CI makes: every operation with --verify, two engines and two threads, no
/// timing asserted.
#[test]
fn perf_verifies_outputs_with_threads_and_engines() {
    for (op, format) in [("copy", "gzip"), ("compress", "zstd"), ("decompress", "gzip"), ("compress", "lz4-block")] {
        let args = ["perf", op, "--format", format, "--size", "4k", "--qd", "4", "--threads", "1,2", "--engines", "1,2"];
        let (ok, out, err) = accel(&[&args[..], &["--seconds", "0.02", "--repeat", "1", "--verify"]].concat());
        assert!(ok, "{op} {format}: {err}");
        assert_eq!(out.lines().filter(|l| l.trim_start().starts_with("4KiB")).count(), 4, "{out}");
    }
}

#[test]
fn perf_plots_into_an_svg_or_png_file() {
    let dir = std::env::temp_dir();
    let svg_path = dir.join(format!("accel-perf-plot-{}.svg", std::process::id()));
    let png_path = dir.join(format!("accel-perf-plot-{}.png", std::process::id()));
    for path in [&svg_path, &png_path] {
        let file = path.to_str().expect("utf-8 temp path");
        let args = ["perf", "copy", "--size", "4k,8k", "--qd", "1,2", "--seconds", "0.02", "--repeat", "1", "--plot", file];
        let (ok, _, err) = accel(&args);
        assert!(ok, "{file}: {err}");
    }
    let svg = std::fs::read_to_string(&svg_path).expect("the SVG was written");
    std::fs::remove_file(&svg_path).ok();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{svg}");
    // Both charts, and in the throughput chart's legend a line and a dashed direct line per
    // queue depth (each label a whole text element: one is the start of the other).
    for text in [
        "throughput (MB/s) by size",
        "p50 latency (µs, log scale) by queue depth",
        "qd 1, 1 eng, 1 thr",
        "qd 1, 1 eng, 1 thr, direct",
        "qd 2, 1 eng, 1 thr",
        "qd 2, 1 eng, 1 thr, direct",
    ] {
        assert!(svg.contains(&format!(">\n{text}\n</text>")), "no text {text:?} in {svg}");
    }
    let png = std::fs::File::open(&png_path).expect("the PNG was written");
    let mut reader = png::Decoder::new(png).read_info().expect("a PNG image");
    let mut pixels = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut pixels).expect("its pixels decode");
    std::fs::remove_file(&png_path).ok();
    assert_eq!((frame.width, frame.height, frame.color_type), (1200, 480, png::ColorType::Rgb));
    // Each chart draws its lines in the first two colours: the queue depths' on the left, the
    // sizes' on the right. A line across a chart is hundreds of pixels, a legend swatch about
    // forty; lines may cover each other (both depths' direct runs are one memcpy), so each
    // colour need only show, and the two together make lines.
    let rows = pixels[..frame.buffer_size()].chunks_exact(1200 * 3);
    let halves = rows.fold([[0usize; 2]; 2], |mut count, row| {
        for (x, pixel) in row.chunks_exact(3).enumerate() {
            for (color, rgb) in [[0x1f, 0x77, 0xb4], [0xd6, 0x27, 0x28]].iter().enumerate() {
                count[x / 600][color] += usize::from(pixel == rgb);
            }
        }
        count
    });
    for (half, counts) in ["throughput", "latency"].iter().zip(halves) {
        let drawn = counts.iter().all(|&n| n >= 20) && counts.iter().sum::<usize>() > 600;
        assert!(drawn, "{half} chart: {counts:?} pixels of its two lines' colours");
    }
}

#[test]
fn perf_refuses_a_plot_it_cannot_draw() {
    let (code, _, err) = accel_status(&["perf", "nop", "--plot", "out.jpg"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("out.jpg: the file must end in .svg or .png"), "{err}");
    let (code, _, err) = accel_status(&["perf", "nop", "--plot", "/nonexistent/out.svg"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("/nonexistent/out.svg: no directory /nonexistent"), "{err}");
    let directory = std::env::temp_dir().join(format!("accel-perf-plot-dir-{}.svg", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    let (code, _, err) = accel_status(&["perf", "nop", "--plot", directory.to_str().unwrap()]);
    std::fs::remove_dir(&directory).ok();
    assert_eq!(code, Some(2));
    assert!(err.contains("a directory, not a file"), "{err}");
    for font in ["/nonexistent/font.ttf", "/etc/hostname"] {
        let out = Command::new(env!("CARGO_BIN_EXE_accel"))
            .args(["perf", "nop", "--plot", "out.png"])
            .env("ACCEL_PLOT_FONT", font)
            .output()
            .expect("run accel");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(&format!("no TrueType font to write the labels with (tried {font})")), "{err}");
        assert!(!std::path::Path::new("out.png").exists(), "nothing is drawn");
    }
}

/// `--wait event`: the application sleeps on a completion channel while the engine works, and
/// every output still checks.
#[test]
fn perf_wait_event_sleeps_while_the_engine_works() {
    for op in [&["copy"][..], &["encrypt", "--alg", "aes-256-gcm"], &["compress", "--format", "zstd"]] {
        let args = ["perf", "--size", "4k", "--qd", "1,8", "--threads", "1,2", "--engines", "1,2", "--wait", "event"];
        let (ok, out, err) =
            accel(&[&args[..1], op, &args[1..], &["--seconds", "0.02", "--repeat", "1", "--verify", "--json"]].concat());
        assert!(ok, "{op:?}: {err}");
        assert_eq!(out.lines().filter(|l| l.contains("\"wait\":\"event\"")).count(), 8, "{out}");
    }
    // Slow requests (about a millisecond each): a poster that polled would add a second busy
    // thread to the engine's for the device runs, 1.5 CPUs a second of the whole run with the
    // direct runs; one asleep adds next to nothing. A busy machine only lowers the figure.
    let args = ["perf", "compress", "--format", "deflate", "--level", "6", "--size", "64k", "--qd", "4", "--wait", "event"];
    let (cpu, wall) = cpu_and_wall(&[&args[..], &["--seconds", "0.3", "--repeat", "1"]].concat());
    assert!(cpu / wall < 1.3, "{cpu:.2} s of CPU in {wall:.2} s: the application did not sleep");
}

/// A run of slow requests ends near its time: the clock is read by the rate of the requests, not
/// every thousand of them (level 9 on 256 KiB takes milliseconds a request, tens in a debug
/// build, so a thousand of them took tens of seconds).
#[test]
fn perf_runs_end_near_their_time_even_with_slow_requests() {
    let args = ["perf", "compress", "--format", "deflate", "--level", "9", "--size", "256k", "--qd", "1", "--seconds", "0.01"];
    let start = std::time::Instant::now();
    let (ok, out, err) = accel(&[&args[..], &["--repeat", "2"]].concat());
    assert!(ok, "{err}");
    assert_eq!(out.lines().filter(|l| l.trim_start().starts_with("256KiB")).count(), 1, "{out}");
    let took = start.elapsed();
    assert!(took < std::time::Duration::from_secs(10), "two runs of 0.01 s took {took:?}");
}

/// Runs `accel args` to success; the CPU time it used (user and system) and the time it took.
fn cpu_and_wall(args: &[&str]) -> (f64, f64) {
    let start = std::time::Instant::now();
    #[allow(clippy::zombie_processes)] // Reaped by wait4 below, which also reports its CPU time.
    let child =
        Command::new(env!("CARGO_BIN_EXE_accel")).args(args).stdout(std::process::Stdio::null()).spawn().expect("run accel");
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value of the plain C struct wait4 fills.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `child` is our own child, not waited for yet (std's `Child` waits only when asked),
    // and both pointers are to live locals.
    let reaped = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let wall = start.elapsed().as_secs_f64();
    assert!(reaped > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "accel {args:?} failed: {status}");
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (seconds(usage.ru_utime) + seconds(usage.ru_stime), wall)
}

#[test]
fn perf_json_has_one_object_per_row() {
    let args = [
        "perf",
        "compress",
        "--format",
        "zstd",
        "--level",
        "1",
        "--size",
        "4k,8k",
        "--qd",
        "2",
        "--seconds",
        "0.02",
        "--repeat",
        "2",
        "--json",
    ];
    let (ok, out, err) = accel(&args);
    assert!(ok, "{err}");
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows.len(), 2, "{out}");
    for (row, size) in rows.iter().zip([4096, 8192]) {
        assert!(row.starts_with('{') && row.ends_with('}'), "{row}");
        for field in [
            "\"op\":\"compress\"",
            "\"format\":\"Zstd\"",
            "\"level\":1",
            "\"qd\":2",
            "\"engines\":1",
            "\"threads\":1",
            "\"policy\":\"threads\"",
            "\"wait\":\"spin\"",
            "\"ops_per_s\":",
            "\"mb_per_s\":",
            "\"p50_us\":",
            "\"p99_us\":",
            "\"direct_mb_per_s\":",
            "\"ratio\":",
            "\"spread\":",
            "\"core_to_core_ns\":",
        ] {
            assert!(row.contains(field), "{field} missing from {row}");
        }
        assert!(row.contains(&format!("\"size\":{size},")), "{row}");
    }
}

#[test]
fn bad_arguments_are_named_in_the_error() {
    let (ok, _, err) = accel(&["perf", "copy", "--size", "12q"]);
    assert!(!ok);
    assert!(err.contains("12q"), "{err}");
    let (ok, _, err) = accel(&["perf", "frobnicate"]);
    assert!(!ok);
    assert!(err.contains("frobnicate"), "{err}");
    // Each limit is named; nothing panics or hangs.
    for (args, named) in [
        (&["perf", "nop", "--qd", "0"][..], "1..=32768"),
        (&["perf", "nop", "--qd", "100000"][..], "1..=32768"),
        (&["perf", "nop", "--repeat", "0"][..], "1..=1000"),
        (&["perf", "nop", "--seconds", "nan"][..], "0.01 to 3600"),
        (&["perf", "nop", "--seconds", "-1"][..], "0.01 to 3600"),
        (&["perf", "copy", "--size", "4096m"][..], "limit of 1g"),
        (&["perf", "compress", "--format", "gzip", "--level", "12", "--size", "4k"][..], "0 to 9"),
        (&["perf", "nop", "--size", "4k"][..], "does not apply to nop"),
        (&["perf", "nop", "--engines", "0"][..], "--policy inline or adaptive"),
        (&["perf", "nop", "--wait", "event", "--policy", "inline"][..], "--wait event needs --policy threads"),
        (&["perf", "nop", "--engines", "65"][..], "0..=64"),
        (&["perf", "nop", "--threads", "0"][..], "1..=64"),
    ] {
        let (code, _, err) = accel_status(args);
        assert_eq!(code, Some(2), "{args:?}: a usage error is status 2: {err}");
        assert!(err.contains(named) && !err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn perf_runs_every_crypto_algorithm_and_verifies_it_against_the_library() {
    let cases: [&[&str]; 7] = [
        &["encrypt"],
        &["decrypt", "--alg", "aes-128-gcm"],
        &["encrypt", "--alg", "aes-128-xts"],
        &["decrypt", "--alg", "aes-256-xts", "--data-unit", "4k"],
        &["digest"],
        &["digest", "--alg", "hmac-sha256"],
        &["digest", "--alg", "crc32c"],
    ];
    for case in cases {
        let common = ["--size", "4k,8k", "--qd", "1,4", "--threads", "1,2", "--seconds", "0.02", "--repeat", "1", "--verify"];
        let (ok, out, err) = accel(&[&["perf"][..], case, &common].concat());
        assert!(ok, "{case:?}: {err}");
        assert_eq!(
            out.lines().filter(|l| l.trim_start().starts_with("4KiB") || l.trim_start().starts_with("8KiB")).count(),
            8,
            "{out}"
        );
        assert!(out.contains("direct MB/s"), "{out}");
    }
    let (ok, out, err) = accel(&[
        "perf",
        "encrypt",
        "--alg",
        "aes-256-xts",
        "--size",
        "4k",
        "--qd",
        "2",
        "--seconds",
        "0.02",
        "--repeat",
        "1",
        "--json",
    ]);
    assert!(ok, "{err}");
    assert!(out.lines().all(|l| l.contains("\"op\":\"encrypt\"") && l.contains("\"alg\":\"aes-256-xts\"")), "{out}");
}

#[test]
fn perf_crypto_arguments_name_their_limits() {
    let cases: [(&[&str], &str); 5] = [
        (&["compress", "--alg", "sha256"], "applies to encrypt, decrypt and digest only"),
        (&["digest", "--alg", "aes-128-gcm"], "digest takes a digest"),
        (&["encrypt", "--alg", "sha256"], "encrypt takes a cipher"),
        (&["encrypt", "--alg", "aes-128-xts", "--size", "1000"], "not a whole number of 512-byte XTS data units"),
        (&["decrypt", "--alg", "aes-256-xts", "--data-unit", "8"], "outside 16 to 1m bytes"),
    ];
    for (args, message) in cases {
        let (code, out, err) = accel_status(&[&["perf"][..], args].concat());
        assert_eq!(code, Some(2), "{args:?}: a usage error is status 2: {out}");
        assert!(err.contains(message), "{args:?}: {err}");
    }
}

/// On one CPU (`taskset -c 0`) the two threads of the core-to-core measurement share a core:
/// the tool must still report a number, and its `--json` rows must stay JSON (`NaN` is not).
#[test]
fn perf_on_one_cpu_reports_a_core_to_core_round_trip_as_json() {
    let args =
        ["-c", "0", env!("CARGO_BIN_EXE_accel"), "perf", "nop", "--qd", "1", "--seconds", "0.02", "--repeat", "1", "--json"];
    let Ok(out) = Command::new("taskset").args(args).output() else {
        eprintln!("skipped: no taskset to run the tool on one CPU");
        return;
    };
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    let row = stdout.lines().next().unwrap_or_default();
    let value = row.split("\"core_to_core_ns\":").nth(1).map(|rest| rest.trim_end_matches('}')).unwrap_or_default();
    let ns: f64 = value.parse().unwrap_or(f64::NAN);
    assert!(ns.is_finite() && ns > 0.0 && value.chars().all(|c| c.is_ascii_digit() || c == '.'), "not a JSON number: {row}");
}

/// A report that cannot be written (standard output on a full device) fails with a message
/// saying so, status 1, where `println!` panicked (status 101).
#[test]
fn reports_to_a_full_stdout_fail_cleanly() {
    for args in [&["devinfo"][..], &["perf", "nop", "--qd", "1", "--seconds", "0.01", "--repeat", "1"]] {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("open /dev/full");
        let out = Command::new(env!("CARGO_BIN_EXE_accel")).args(args).stdout(full).output().expect("run accel");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("accel: stdout: No space left on device"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}
