//! `accel digest`: SHA-256, HMAC-SHA-256 or CRC32C of files (or standard input, `-`) through
//! the device, printed as `sha256sum` prints: `<hex>  <name>`, one line per file. A file that
//! cannot be read is reported and skipped; the status says so at the end.

use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use accelverbs::KeyAlgorithm;
use clap::{Args, ValueEnum};

use crate::ends;
use crate::key_file::{lengths_taken, read_key};
use crate::pipeline::{DataError, Pipeline, ONE_REQUEST_LIMIT};
use crate::status::{io_message, Exit, Reporter};
use crate::stdio;

/// A digest on the command line.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DigestArg {
    #[value(name = "sha256")]
    Sha256,
    #[value(name = "hmac-sha256")]
    HmacSha256,
    #[value(name = "crc32c")]
    Crc32c,
}

#[derive(Args, Debug)]
pub struct DigestArgs {
    /// The digest: crc32c prints 8 hex digits, the others 64.
    #[arg(long, value_enum)]
    alg: DigestArg,
    /// hmac-sha256 only: a file holding the raw key, 16 to 128 bytes.
    #[arg(long, value_name = "F")]
    key_file: Option<PathBuf>,
    /// The inputs (none, or `-`: standard input).
    files: Vec<PathBuf>,
}

pub fn run(args: DigestArgs) -> Exit {
    let mut reporter = Reporter::new(false);
    let hmac = KeyAlgorithm::HmacSha256;
    let material = match (args.alg, &args.key_file) {
        (DigestArg::HmacSha256, None) => {
            reporter.error("--key-file", format!("hmac-sha256 needs --key-file F, {}", lengths_taken(hmac)));
            return reporter.status();
        }
        (DigestArg::HmacSha256, Some(path)) => match read_key(path, hmac, "hmac-sha256") {
            Ok(material) => Some(material),
            Err(message) => {
                reporter.error(&path.display().to_string(), message);
                return reporter.status();
            }
        },
        (_, Some(_)) => {
            reporter.error("--key-file", "applies to --alg hmac-sha256 only (sha256 and crc32c take no key)");
            return reporter.status();
        }
        (_, None) => None,
    };
    let opened = Pipeline::open().and_then(|pipeline| {
        let key = material.as_ref().map(|m| pipeline.crypto_key(hmac, m.bytes())).transpose()?;
        Ok((pipeline, key))
    });
    drop(material);
    let (mut pipeline, key) = match opened {
        Ok(opened) => opened,
        Err(failure) => {
            reporter.failure("device", "stdout", &failure);
            return reporter.status();
        }
    };
    let stdin_only = [PathBuf::from("-")];
    let files = if args.files.is_empty() { &stdin_only[..] } else { &args.files[..] };
    let mut stdout = io::stdout().lock();
    for path in files {
        let Some((name, mut input)) = ends::open_input(Some(path), &mut reporter) else { continue };
        if let Some(operation) = whole_input_operation(args.alg) {
            // Refused before reading a GiB only to refuse it then.
            if stdio::regular_size(&input).is_some_and(|size| size > ONE_REQUEST_LIMIT as u64) {
                reporter.error(&name, DataError::OverRequestLimit { operation });
                continue;
            }
        }
        let digest = match args.alg {
            DigestArg::Crc32c => pipeline.crc32c(&mut input).map(|crc| format!("{crc:08x}")),
            DigestArg::Sha256 | DigestArg::HmacSha256 => pipeline.sha256(key.as_ref(), &mut input).map(|d| hex(&d)),
        };
        match digest {
            Ok(digest) => {
                if let Err(e) = stdout.write_all(&line(&digest, path)).and_then(|()| stdout.flush()) {
                    reporter.error("stdout", io_message(&e));
                    return reporter.status();
                }
            }
            Err(failure) => reporter.failure(&name, "stdout", &failure),
        }
    }
    reporter.status()
}

/// The name of a digest the device takes in one request over the whole input.
fn whole_input_operation(alg: DigestArg) -> Option<&'static str> {
    match alg {
        DigestArg::HmacSha256 => Some("HMAC-SHA-256"),
        DigestArg::Sha256 | DigestArg::Crc32c => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `sha256sum`'s line: the name's own bytes (one that is not UTF-8 too, so `sha256sum -c`
/// finds the file), a backslash, newline or carriage return escaped (`\\`, `\n`, `\r`, as
/// coreutils 9 escapes them) and the line then starting with a backslash, so every line stays
/// one line a checker can parse.
fn line(digest: &str, path: &Path) -> Vec<u8> {
    let name = path.as_os_str().as_bytes();
    let mut line = Vec::with_capacity(digest.len() + name.len() + 4);
    let escaped = name.iter().any(|b| matches!(b, b'\\' | b'\n' | b'\r'));
    if escaped {
        line.push(b'\\');
    }
    line.extend_from_slice(digest.as_bytes());
    line.extend_from_slice(b"  ");
    for &b in name {
        match b {
            b'\\' => line.extend_from_slice(b"\\\\"),
            b'\n' => line.extend_from_slice(b"\\n"),
            b'\r' => line.extend_from_slice(b"\\r"),
            _ => line.push(b),
        }
    }
    line.push(b'\n');
    line
}
