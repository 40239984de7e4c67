//! Byte counts on the command line and in reports.

/// `n`, optionally with k, m or g (powers of 1024).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let lower = s.trim().to_ascii_lowercase();
    let (digits, mult) = match lower.chars().last() {
        Some('k') => (&lower[..lower.len() - 1], 1u64 << 10),
        Some('m') => (&lower[..lower.len() - 1], 1 << 20),
        Some('g') => (&lower[..lower.len() - 1], 1 << 30),
        _ => (&lower[..], 1),
    };
    let n: u64 = digits.parse().map_err(|_| format!("bad size {s:?} (a number, optionally with k, m or g)"))?;
    n.checked_mul(mult).ok_or(format!("size {s:?} is too large"))
}

/// `bytes` in KiB, MiB or GiB with one decimal.
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        n if n >= 1 << 30 => format!("{:.1} GiB", b / f64::from(1u32 << 30)),
        n if n >= 1 << 20 => format!("{:.1} MiB", b / f64::from(1u32 << 20)),
        n if n >= 1 << 10 => format!("{:.1} KiB", b / 1024.0),
        n => format!("{n} B"),
    }
}
