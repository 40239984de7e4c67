//! The independent implementations our codecs are checked against: the stock `gzip`, `zstd`
//! and `lz4` tools, and Python's `zlib` and `lz4.block` (for the formats no tool writes bare).

use std::io::Write;
use std::process::{Command, Stdio};

use accelverbs::Format;

/// Runs `program args` with `input` on stdin; its stdout, or a panic naming the tool.
fn filter(program: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} not runnable ({e}): tests/run.sh installs it"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    // Written from a thread: the tool's output fills its pipe while we still write.
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("wait for the tool");
    writer.join().expect("writer thread").expect("write the tool's stdin");
    assert!(out.status.success(), "{program} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// Debian's Python, which has the `python3-lz4` package (a pyenv `python3` earlier on the PATH
/// would not).
const PYTHON: &str = "/usr/bin/python3";

/// A Python one-liner over stdin/stdout bytes.
fn python(body: &str, input: &[u8]) -> Vec<u8> {
    let script = format!("import sys, zlib\ndata = sys.stdin.buffer.read()\n{body}\nsys.stdout.buffer.write(out)\n");
    filter(PYTHON, &["-c", &script], input)
}

/// `data` compressed by the format's reference tool.
pub fn compress(format: Format, data: &[u8]) -> Vec<u8> {
    match format {
        Format::Gzip => filter("gzip", &["-c", "-n"], data),
        Format::Zstd => filter("zstd", &["-c", "-q"], data),
        Format::Lz4Frame => filter("lz4", &["-c", "-q"], data),
        Format::Zlib => python("out = zlib.compress(data)", data),
        Format::Deflate => python("c = zlib.compressobj(6, zlib.DEFLATED, -15)\nout = c.compress(data) + c.flush()", data),
        Format::Lz4Block => python("import lz4.block\nout = lz4.block.compress(data, store_size=False)", data),
    }
}

/// `data` decompressed by the format's reference tool (`plain_len`: the size, for LZ4 blocks,
/// which do not record it).
pub fn decompress(format: Format, data: &[u8], plain_len: usize) -> Vec<u8> {
    match format {
        Format::Gzip => filter("gzip", &["-d", "-c"], data),
        Format::Zstd => filter("zstd", &["-d", "-c", "-q"], data),
        Format::Lz4Frame => filter("lz4", &["-d", "-c", "-q"], data),
        Format::Zlib => python("out = zlib.decompress(data)", data),
        Format::Deflate => python("out = zlib.decompress(data, -15)", data),
        Format::Lz4Block => {
            python(&format!("import lz4.block\nout = lz4.block.decompress(data, uncompressed_size={plain_len})"), data)
        }
    }
}

/// The format's checksum of `plain`, computed by Python (CRC-32 / Adler-32), for the formats
/// whose checksum does not depend on framing choices.
pub fn checksum(format: Format, plain: &[u8]) -> Option<u32> {
    let expr = match format {
        Format::Gzip | Format::Deflate => "zlib.crc32(data)",
        Format::Zlib => "zlib.adler32(data)",
        _ => return None,
    };
    let out = python(&format!("out = ({expr}).to_bytes(4, 'little')"), plain);
    Some(u32::from_le_bytes(out.try_into().expect("4 bytes")))
}

/// Text-like bytes that compress about as well as prose (words from a small vocabulary).
pub fn compressible(seed: u64, len: usize) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "the ",
        "device ",
        "queue ",
        "pair ",
        "completion ",
        "region ",
        "memory ",
        "compress ",
        "stream ",
        "engine ",
        "of ",
        "and ",
        "a ",
        "to ",
        "in ",
        "request ",
        "work ",
        "poll ",
        "doorbell ",
        "ring\n",
    ];
    let noise = crate::pattern(seed, len / 4 + 1);
    let mut out = Vec::with_capacity(len + 16);
    let mut i = 0;
    while out.len() < len {
        out.extend_from_slice(WORDS[noise[i % noise.len()] as usize % WORDS.len()].as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}
