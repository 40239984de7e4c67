//! What the command-line tests share: a scratch directory per test, running `accel` and the
//! stock tools (each waited on, never timed), and generated data.

#![allow(dead_code)] // each test file uses its own part

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

pub const CHUNK: usize = 256 << 10;
pub const MIB: usize = 1 << 20;

/// A directory removed (with its contents) when dropped.
pub struct Scratch {
    pub path: PathBuf,
}

impl Scratch {
    pub fn new(test: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("accel-cli-{test}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create scratch directory");
        Self { path }
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.file(name);
        std::fs::write(&p, data).expect("write test file");
        p
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.file(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
    }

    pub fn exists(&self, name: &str) -> bool {
        self.file(name).symlink_metadata().is_ok()
    }

    /// The names in the directory, sorted (temporary files included).
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.path)
            .expect("list scratch directory")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// What a finished process left.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

fn finish(out: Output) -> Run {
    Run {
        // A signal (no code) reads as -1, which no assertion expects.
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `program` in `dir` with `stdin` piped in; waits for it.
pub fn run_in(dir: &Path, program: &str, args: &[&str], stdin: &[u8]) -> Run {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {program}: {e}"));
    let mut pipe = child.stdin.take().expect("stdin pipe");
    // Fed from a thread: a large input and a large output would otherwise fill both pipes.
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = pipe.write_all(&data);
    });
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("wait for {program}: {e}"));
    let _ = feeder.join();
    finish(out)
}

pub fn accel_bin() -> &'static str {
    env!("CARGO_BIN_EXE_accel")
}

/// `accel ARGS` in `dir`.
pub fn accel(dir: &Path, args: &[&str], stdin: &[u8]) -> Run {
    run_in(dir, accel_bin(), args, stdin)
}

/// A stock tool's output for `stdin`, which must succeed.
pub fn stock(program: &str, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let run = run_in(Path::new("."), program, args, stdin);
    assert_eq!(run.code, 0, "{program} {args:?}: {}", run.stderr);
    run.stdout
}

/// Python's zlib (or lz4.block) over stdin: `expr` maps `d` (the input bytes) to the output.
pub fn python(expr: &str, stdin: &[u8]) -> Vec<u8> {
    let script = format!("import sys, zlib, lz4.block\nd = sys.stdin.buffer.read()\nsys.stdout.buffer.write({expr})");
    stock("/usr/bin/python3", &["-c", &script], stdin)
}

/// Text-like bytes: words with some noise, compressing a few times over.
pub fn text(seed: u64, len: usize) -> Vec<u8> {
    const WORDS: [&[u8]; 12] = [
        b"device ",
        b"queue ",
        b"pair ",
        b"region ",
        b"stream ",
        b"the ",
        b"of ",
        b"compress ",
        b"42 ",
        b"\n",
        b"engine ",
        b"a ",
    ];
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if x & 15 == 0 {
            out.push((x >> 32) as u8);
        } else {
            out.extend_from_slice(WORDS[(x >> 40) as usize % WORDS.len()]);
        }
    }
    out.truncate(len);
    out
}

/// Incompressible bytes.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Stretches of text, noise and runs of one byte, of sizes that straddle the pipeline's
/// chunks: the hardest case for a compressed chunk's output room.
pub fn mixed(seed: u64, len: usize) -> Vec<u8> {
    let sizes = [1000, 50_000, 131_072, 200_000, 300_000, CHUNK];
    let mut out = Vec::with_capacity(len + CHUNK);
    let mut i = 0u64;
    while out.len() < len {
        let n = sizes[(seed.wrapping_add(i) % sizes.len() as u64) as usize];
        match (seed + i * 7) % 3 {
            0 => out.extend(noise(seed + i, n)),
            1 => out.extend(text(seed + i, n)),
            _ => out.extend(vec![(i % 3) as u8; n]),
        }
        i += 1;
    }
    out.truncate(len);
    out
}

/// Asserts `run` exited with `code` and that its stderr mentions each of `words`.
pub fn assert_exit(run: &Run, code: i32, words: &[&str]) {
    assert_eq!(run.code, code, "stderr: {}", run.stderr);
    for w in words {
        assert!(run.stderr.contains(w), "stderr lacks {w:?}: {}", run.stderr);
    }
}
