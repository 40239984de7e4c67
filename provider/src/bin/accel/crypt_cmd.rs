//! `accel encrypt` and `accel decrypt`: AES-GCM (ciphertext then the 16-byte tag) and AES-XTS
//! (whole data units, same size out as in) with a key from a file, one input (a file or
//! standard input) to a file (`-o`, written whole or not at all) or standard output. Every
//! argument is checked, naming its limit, before the device is opened.

use std::path::PathBuf;

use accelverbs::KeyAlgorithm;
use clap::{Args, ValueEnum};

use crate::ends::{self, Sink};
use crate::hex::parse_hex;
use crate::key_file::read_key;
use crate::pipeline::{DataError, Direction, GcmRequest, Pipeline, XtsRequest, MAX_DATA_UNIT, MIN_DATA_UNIT, ONE_REQUEST_LIMIT};
use crate::status::{Exit, Reporter};
use crate::stdio;
use crate::units::parse_size;

/// The IV AES-GCM takes here: 96 bits, the size GCM is built for (others are hashed into one).
const GCM_IV_LEN: usize = 12;
/// The data unit when `--data-unit` is not given: a disk sector.
const DEFAULT_DATA_UNIT: u32 = 512;

/// A cipher on the command line (OpenSSL's names).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CipherArg {
    #[value(name = "aes-128-gcm")]
    Aes128Gcm,
    #[value(name = "aes-256-gcm")]
    Aes256Gcm,
    #[value(name = "aes-128-xts")]
    Aes128Xts,
    #[value(name = "aes-256-xts")]
    Aes256Xts,
}

impl CipherArg {
    fn name(self) -> &'static str {
        match self {
            CipherArg::Aes128Gcm => "aes-128-gcm",
            CipherArg::Aes256Gcm => "aes-256-gcm",
            CipherArg::Aes128Xts => "aes-128-xts",
            CipherArg::Aes256Xts => "aes-256-xts",
        }
    }

    fn key_algorithm(self) -> KeyAlgorithm {
        match self {
            CipherArg::Aes128Gcm => KeyAlgorithm::Aes128Gcm,
            CipherArg::Aes256Gcm => KeyAlgorithm::Aes256Gcm,
            CipherArg::Aes128Xts => KeyAlgorithm::Aes128Xts,
            CipherArg::Aes256Xts => KeyAlgorithm::Aes256Xts,
        }
    }

    fn is_gcm(self) -> bool {
        matches!(self, CipherArg::Aes128Gcm | CipherArg::Aes256Gcm)
    }
}

#[derive(Args, Debug)]
pub struct CryptArgs {
    /// The cipher.
    #[arg(long, value_enum)]
    alg: CipherArg,
    /// A file holding the raw key: 16 or 32 bytes for GCM, 32 or 64 for XTS (two different halves).
    #[arg(long, value_name = "F")]
    key_file: PathBuf,
    /// GCM: the 12-byte IV in hex (24 digits). Never use one twice with the same key.
    #[arg(long, value_name = "HEX")]
    iv: Option<String>,
    /// XTS: the first data unit's tweak (a sector number, say), decimal, below 2^128 (default 0).
    #[arg(long, value_name = "N", value_parser = parse_tweak)]
    tweak: Option<u128>,
    /// GCM: additional authenticated data in hex, covered by the tag and not encrypted.
    #[arg(long, value_name = "HEX")]
    aad: Option<String>,
    /// XTS: bytes per data unit, 16 to 1m (default 512); the input is a whole number of units.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    data_unit: Option<u64>,
    /// Write to OUT (replaced only when complete) instead of standard output.
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,
    /// Overwrite an existing OUT; write ciphertext to a terminal, read it from one.
    #[arg(short, long)]
    force: bool,
    /// The input (default, or `-`: standard input).
    input: Option<PathBuf>,
}

/// `--tweak N`: a decimal `u128`.
fn parse_tweak(text: &str) -> Result<u128, String> {
    text.parse().map_err(|_| format!("not a decimal number from 0 to 2^128-1 ({})", u128::MAX))
}

/// The checked parameters of one run.
enum Mode {
    Gcm { iv: [u8; GCM_IV_LEN], aad: Vec<u8> },
    Xts { tweak: u128, data_unit: u32 },
}

pub fn encrypt(args: CryptArgs) -> Exit {
    run(args, Direction::Encrypt)
}

pub fn decrypt(args: CryptArgs) -> Exit {
    run(args, Direction::Decrypt)
}

/// The options of `args` that do not belong to its cipher, the IV, AAD and data unit checked.
fn mode(args: &CryptArgs) -> Result<Mode, (&'static str, String)> {
    let alg = args.alg.name();
    if args.alg.is_gcm() {
        if args.tweak.is_some() {
            return Err(("--tweak", format!("applies to AES-XTS only; {alg} takes --iv HEX (12 bytes)")));
        }
        if args.data_unit.is_some() {
            return Err(("--data-unit", format!("applies to AES-XTS only; {alg} encrypts the input as one message")));
        }
        let Some(iv) = &args.iv else {
            return Err(("--iv", format!("{alg} needs --iv HEX, a {GCM_IV_LEN}-byte IV ({} hex digits)", 2 * GCM_IV_LEN)));
        };
        let iv = parse_hex(iv).map_err(|e| ("--iv", e))?;
        let iv = <[u8; GCM_IV_LEN]>::try_from(iv.as_slice()).map_err(|_| {
            ("--iv", format!("a {}-byte IV; {alg} takes a {GCM_IV_LEN}-byte IV ({} hex digits)", iv.len(), 2 * GCM_IV_LEN))
        })?;
        let aad = parse_hex(args.aad.as_deref().unwrap_or("")).map_err(|e| ("--aad", e))?;
        return Ok(Mode::Gcm { iv, aad });
    }
    if args.iv.is_some() {
        return Err(("--iv", format!("applies to AES-GCM only; {alg} takes --tweak N (default 0)")));
    }
    if args.aad.is_some() {
        return Err(("--aad", format!("applies to AES-GCM only; {alg} authenticates nothing")));
    }
    let data_unit = args.data_unit.unwrap_or(u64::from(DEFAULT_DATA_UNIT));
    let Some(data_unit) = u32::try_from(data_unit).ok().filter(|u| (MIN_DATA_UNIT..=MAX_DATA_UNIT).contains(u)) else {
        return Err((
            "--data-unit",
            format!("{data_unit} bytes is outside {MIN_DATA_UNIT} (one AES block) to {MAX_DATA_UNIT} (1m) bytes"),
        ));
    };
    Ok(Mode::Xts { tweak: args.tweak.unwrap_or(0), data_unit })
}

/// What a regular input file's size alone shows is wrong, before any output exists.
fn size_problem(mode: &Mode, direction: Direction, size: u64) -> Option<DataError> {
    let tag = accelverbs::TAG_LEN as u64;
    match *mode {
        Mode::Gcm { .. } => {
            let limit = ONE_REQUEST_LIMIT as u64 + if direction == Direction::Decrypt { tag } else { 0 };
            if size > limit {
                return Some(DataError::OverRequestLimit { operation: "AES-GCM" });
            }
            (direction == Direction::Decrypt && size < tag).then_some(DataError::ShorterThanTag { size })
        }
        Mode::Xts { data_unit, .. } => {
            (!size.is_multiple_of(u64::from(data_unit))).then_some(DataError::PartialDataUnit { size, unit: data_unit })
        }
    }
}

fn run(args: CryptArgs, direction: Direction) -> Exit {
    let mut reporter = Reporter::new(false);
    let mode = match mode(&args) {
        Ok(mode) => mode,
        Err((option, message)) => {
            reporter.error(option, message);
            return reporter.status();
        }
    };
    let key_name = args.key_file.display().to_string();
    let material = match read_key(&args.key_file, args.alg.key_algorithm(), args.alg.name()) {
        Ok(material) => material,
        Err(message) => {
            reporter.error(&key_name, message);
            return reporter.status();
        }
    };
    let from_stdin = ends::is_stdin(args.input.as_deref());
    if !args.force {
        if direction == Direction::Encrypt && args.output.is_none() && stdio::stdout_is_terminal() {
            reporter.error("stdout", "encrypted data not written to a terminal. Use -f to force encryption.");
            return reporter.status();
        }
        if direction == Direction::Decrypt && from_stdin && stdio::stdin_is_terminal() {
            reporter.error("stdin", "encrypted data not read from a terminal. Use -f to force decryption.");
            return reporter.status();
        }
    }
    let Some((in_name, mut input)) = ends::open_input(args.input.as_deref(), &mut reporter) else {
        return reporter.status();
    };
    if let Some(problem) = stdio::regular_size(&input).and_then(|size| size_problem(&mode, direction, size)) {
        reporter.error(&in_name, problem);
        return reporter.status();
    }
    let Some((out_name, mut sink)) = Sink::open(args.output.as_deref(), args.force, &mut reporter) else {
        return reporter.status();
    };
    let result = Pipeline::open().and_then(|mut pipeline| {
        let key = pipeline.crypto_key(args.alg.key_algorithm(), material.bytes())?;
        drop(material);
        let output = sink.writer();
        match &mode {
            Mode::Gcm { iv, aad } => pipeline.gcm(direction, &GcmRequest { key: &key, iv: *iv, aad }, &mut input, output),
            Mode::Xts { tweak, data_unit } => {
                pipeline.xts(direction, &XtsRequest { key: &key, tweak: *tweak, data_unit: *data_unit }, &mut input, output)
            }
        }
    });
    match result {
        Ok(_) => sink.commit(&out_name, &mut reporter),
        // A partial output file goes with `sink`.
        Err(failure) => reporter.failure(&in_name, &out_name, &failure),
    }
    reporter.status()
}
