//! Standard input and output as plain files: data goes to the descriptors unbuffered (the
//! pipeline writes whole chunks; Rust's line-buffered stdout would cut binary data at
//! newlines).

use std::fs::File;
use std::io::{self, IsTerminal, Seek};
use std::os::fd::AsFd;

/// A handle on descriptor 0.
pub fn stdin() -> io::Result<File> {
    Ok(File::from(io::stdin().as_fd().try_clone_to_owned()?))
}

/// A handle on descriptor 1.
pub fn stdout() -> io::Result<File> {
    Ok(File::from(io::stdout().as_fd().try_clone_to_owned()?))
}

pub fn stdin_is_terminal() -> bool {
    io::stdin().is_terminal()
}

pub fn stdout_is_terminal() -> bool {
    io::stdout().is_terminal()
}

/// The size of what `file` reads, when it is a regular file: its length less the offset
/// reached, since standard input may come partly read (`{ read -r header; accel ...; } < f`).
pub fn regular_size(mut file: &File) -> Option<u64> {
    let meta = file.metadata().ok().filter(|m| m.is_file())?;
    let offset = file.stream_position().ok()?;
    Some(meta.len().saturating_sub(offset))
}
