//! `accel-simd`: serves the accelverbs soft device to every process that may open its socket.
//!
//! `accel-simd --socket /run/accelverbs.sock` detaches and serves; `--foreground` stays
//! attached (for systemd and tests). Clients set `ACCELVERBS_SOCKET` to the same path.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use accelverbs_rxe_sim::daemon::{ClientLimits, Listener};
use accelverbs_rxe_sim::{SimConfig, SoftDevice};
use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "accel-simd", version, about = "Serves the accelverbs soft device to many processes over a unix socket")]
struct Args {
    /// Where to listen (a unix socket path, at most 107 bytes).
    #[arg(long)]
    socket: PathBuf,
    /// Stay in the foreground (otherwise detach once the socket listens).
    #[arg(long)]
    foreground: bool,
    /// Permissions of the socket, in octal: who may open the device.
    #[arg(long, default_value = "660", value_parser = parse_mode)]
    mode: u32,
    /// Engine threads (1 to 64).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    engines: u32,
    /// How long an idle engine polls before it sleeps, in microseconds (at most 1000000).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    spin_us: u64,
    /// Most bytes any one client process may pin, below its own RLIMIT_MEMLOCK (e.g. 64M).
    #[arg(long, value_parser = parse_size)]
    max_locked_per_client: Option<u64>,
    /// Most objects (PDs, regions, CQs, QPs, channels, streams, keys) one client connection
    /// may hold at once (1 to 1000000); past it, creating one fails with EAGAIN.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_objects_per_client: Option<u32>,
    /// Most connections one client process may have open at once (1 to 4096); past it, a new
    /// one is refused with EAGAIN.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    max_connections_per_client: u32,
}

fn parse_mode(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s, 8).ok().filter(|&m| m <= 0o777).ok_or_else(|| format!("'{s}' is not an octal mode from 0 to 777"))
}

fn parse_size(s: &str) -> Result<u64, String> {
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, ""),
    };
    let shift = match unit {
        "" => 0,
        "K" | "k" => 10,
        "M" | "m" => 20,
        "G" | "g" => 30,
        _ => return Err(format!("'{s}': use a number of bytes with an optional K, M or G")),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| format!("'{s}' is not a size from 0 to 2^64 - 1 bytes"))
}

/// Detaches from the terminal and the caller's session: the parent exits once the child is
/// forked (the socket already listens, so clients may connect at once).
fn detach() -> std::io::Result<()> {
    // SAFETY: no other thread exists yet (the device and its engines start after this), so the
    // child's copy of this process is consistent.
    match unsafe { libc::fork() } {
        -1 => Err(std::io::Error::last_os_error()),
        0 => {
            // SAFETY: setsid takes nothing; the child is not a group leader, so it succeeds.
            unsafe { libc::setsid() };
            Ok(())
        }
        // SAFETY: _exit ends the parent without running destructors (the listener's would
        // remove the socket the child serves).
        _ => unsafe { libc::_exit(0) },
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let listener = match Listener::bind(&args.socket, args.mode) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("accel-simd: cannot listen on {}: {e}", args.socket.display());
            return ExitCode::FAILURE;
        }
    };
    if !args.foreground {
        if let Err(e) = detach() {
            eprintln!("accel-simd: cannot detach: {e}");
            return ExitCode::FAILURE;
        }
    }
    let config = SimConfig {
        engines: args.engines as usize,
        spin: Duration::from_micros(args.spin_us),
        // A client cannot run the device's code on its own threads.
        inline_allowed: false,
        ..SimConfig::default()
    };
    let device = SoftDevice::new(config);
    let limits = ClientLimits {
        locked_bytes: args.max_locked_per_client,
        objects: args.max_objects_per_client.map(|n| n as usize),
        connections: args.max_connections_per_client as usize,
    };
    match listener.serve(&device, limits) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("accel-simd: accepting on {} failed: {e}", args.socket.display());
            ExitCode::FAILURE
        }
    }
}
