//! `accel`: compress, encrypt and digest with accelverbs devices, inspect and benchmark them.
//!
//! ```text
//! accel demo                                     # generated text through the device: ratio, MB/s beside the library
//! accel gzip [-1..-9] [-k] [-c] [-d] [-f] [-q] [-v] FILE...
//! accel gunzip [-k] [-c] [-f] [-q] [-v] FILE...
//! accel compress   --format zstd [--level 19] [-o OUT] [IN]
//! accel decompress --format lz4-block --size 1m [-o OUT] [IN]
//! accel encrypt --alg aes-256-gcm --key-file K --iv 00112233445566778899aabb [--aad HEX] [-o OUT] [IN]
//! accel decrypt --alg aes-256-xts --key-file K [--tweak N] [--data-unit 4096] [-o OUT] [IN]
//! accel digest  --alg sha256|hmac-sha256|crc32c [--key-file K] FILE...
//! accel devinfo
//! accel perf nop  --qd 1,32
//! accel perf copy --size 64,4k,64k,1m --qd 1,32
//! accel perf compress --format gzip --level 1 --size 4k,64k --qd 1,32
//! ```
//!
//! Exit status: 0 success, 1 error (usage errors included), 2 warning (gzip's convention).

mod codec_cmd;
mod crypt_cmd;
mod demo;
mod devinfo;
mod digest_cmd;
mod ends;
mod gzip;
mod hex;
mod key_file;
mod measure;
mod outfile;
mod perf;
mod pipeline;
mod progress;
mod sample;
mod status;
mod stdio;
mod units;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use status::Exit;

#[derive(Parser, Debug)]
#[command(name = "accel", version, about = "Compress, encrypt and digest with accelverbs devices; inspect and benchmark them")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Compress generated text through the device in each format: ratio and throughput.
    Demo(demo::DemoArgs),
    /// Compress files as gzip does (FILE becomes FILE.gz), or decompress them with -d.
    #[command(args_override_self = true)]
    Gzip(gzip::GzipArgs),
    /// Decompress gzip files (FILE.gz becomes FILE), as gunzip does.
    #[command(args_override_self = true)]
    Gunzip(gzip::GunzipArgs),
    /// Compress one input (file or stdin) in any format to a file or stdout.
    Compress(codec_cmd::CompressArgs),
    /// Decompress one input (file or stdin) in any format to a file or stdout.
    Decompress(codec_cmd::DecompressArgs),
    /// Encrypt one input with AES-GCM (ciphertext, then the 16-byte tag) or AES-XTS.
    Encrypt(crypt_cmd::CryptArgs),
    /// Decrypt one input with AES-GCM (the tag at its end must check) or AES-XTS.
    Decrypt(crypt_cmd::CryptArgs),
    /// SHA-256, HMAC-SHA-256 or CRC32C of files, printed as sha256sum prints.
    Digest(digest_cmd::DigestArgs),
    /// Show devices, versions, limits and supported opcodes (like ibv_devinfo), and which
    /// channel reaches the device (embedded, or the accel-simd daemon of ACCELVERBS_SOCKET).
    Devinfo {
        /// Also show live objects and locked memory, in total and per client.
        #[arg(long)]
        stats: bool,
    },
    /// Measure throughput and latency of one operation against the CPU doing it directly.
    Perf(perf::PerfArgs),
}

/// Which work requests `accel perf` posts.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PerfOp {
    Nop,
    Copy,
    Compress,
    Decompress,
    Encrypt,
    Decrypt,
    Digest,
}

/// A compression format on the command line.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatArg {
    Deflate,
    Zlib,
    Gzip,
    Lz4,
    Lz4Block,
    Zstd,
}

impl From<FormatArg> for accelverbs::Format {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::Deflate => Self::Deflate,
            FormatArg::Zlib => Self::Zlib,
            FormatArg::Gzip => Self::Gzip,
            FormatArg::Lz4 => Self::Lz4Frame,
            FormatArg::Lz4Block => Self::Lz4Block,
            FormatArg::Zstd => Self::Zstd,
        }
    }
}

impl FormatArg {
    /// The name the command line uses.
    pub fn name(self) -> &'static str {
        match self {
            FormatArg::Deflate => "deflate",
            FormatArg::Zlib => "zlib",
            FormatArg::Gzip => "gzip",
            FormatArg::Lz4 => "lz4",
            FormatArg::Lz4Block => "lz4-block",
            FormatArg::Zstd => "zstd",
        }
    }
}

fn main() -> ExitCode {
    // SAFETY: restores the default action of one signal before any thread starts: output to
    // a closed pipe (`accel gunzip -c f.gz | head`) ends the process quietly, as it ends gzip.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    // SAFETY: ignores one signal before any thread starts. A write past the file-size limit
    // (`ulimit -f`) then fails with EFBIG, reported naming the file with its partial output
    // removed, where SIGXFSZ would end the process and leave the temporary file behind.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and version go to stdout with status 0; usage errors are errors: 1 as gzip
            // has it for the file commands, 2 (the usual usage status) for `perf`.
            let _ = e.print();
            if !e.use_stderr() {
                return Exit::Ok.code();
            }
            return match std::env::args().nth(1).as_deref() {
                Some("perf") => ExitCode::from(2),
                _ => Exit::Error.code(),
            };
        }
    };
    let code = run(cli.command);
    // A report (`devinfo`, `perf`, `demo`) whose lines could not all be written has failed.
    if let Some(why) = status::stdout_failure() {
        status::say(format_args!("accel: stdout: {why}"));
        return ExitCode::FAILURE;
    }
    code
}

fn run(command: Command) -> ExitCode {
    let result = match command {
        Command::Demo(args) => return demo::run(args).code(),
        Command::Gzip(args) => return gzip::gzip(args).code(),
        Command::Gunzip(args) => return gzip::gunzip(args).code(),
        Command::Compress(args) => return codec_cmd::compress(args).code(),
        Command::Decompress(args) => return codec_cmd::decompress(args).code(),
        Command::Encrypt(args) => return crypt_cmd::encrypt(args).code(),
        Command::Decrypt(args) => return crypt_cmd::decrypt(args).code(),
        Command::Digest(args) => return digest_cmd::run(args).code(),
        Command::Devinfo { stats } => devinfo::run(stats),
        Command::Perf(args) => match args.validate() {
            Ok(()) => perf::run(&args),
            Err(message) => {
                // As clap does for arguments it refuses itself: a usage error is status 2.
                status::say(format_args!("accel perf: {message}"));
                return ExitCode::from(2);
            }
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            status::say(format_args!("accel: {e}"));
            ExitCode::FAILURE
        }
    }
}
