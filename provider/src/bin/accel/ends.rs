//! The two ends of a one-input command (`compress`, `decompress`, `encrypt`, `decrypt`): an
//! input file or standard input, and an output file (written whole or not at all) or standard
//! output. Each end carries the name its messages use (`stdin`, `stdout` for the streams).

use std::fs::{self, File, Metadata, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::outfile::{OutFile, Ownership};
use crate::status::{io_message, Reporter};
use crate::stdio;

/// Whether `input` (absent, or `-`) means standard input.
pub fn is_stdin(input: Option<&Path>) -> bool {
    !matches!(input, Some(p) if p.as_os_str() != "-")
}

/// The input and its name; `None` after reporting why it cannot be opened.
pub fn open_input(input: Option<&Path>, reporter: &mut Reporter) -> Option<(String, File)> {
    let (name, opened) = match input {
        Some(path) if !is_stdin(Some(path)) => (path.display().to_string(), File::open(path)),
        _ => ("stdin".to_owned(), stdio::stdin()),
    };
    match opened {
        Ok(file) => Some((name, file)),
        Err(e) => {
            reporter.error(&name, io_message(&e));
            None
        }
    }
}

/// Where the output goes.
pub enum Sink {
    /// A new file, or one replacing the regular file whose owner and permissions it holds.
    File(OutFile, Option<Ownership>),
    /// Standard output, or an existing device or FIFO (`-o /dev/null`), written in place: such
    /// a destination holds nothing to lose, and renaming a file over it would replace the
    /// device node itself (as root, `/dev/null`).
    Stream(File),
}

impl Sink {
    /// The output (standard output, an existing device or FIFO, or else `-o`'s temporary
    /// file) and its name; `None` after reporting why it cannot be opened. An existing regular
    /// `-o` file is replaced only with `force`, keeping its owner and permissions; through a
    /// link, the file it links to is.
    pub fn open(output: Option<&Path>, force: bool, reporter: &mut Reporter) -> Option<(String, Sink)> {
        let (name, opened) = match output {
            Some(path) if is_special(path) => {
                (path.display().to_string(), OpenOptions::new().write(true).open(path).map(Sink::Stream))
            }
            Some(path) => {
                let name = path.display().to_string();
                // Checked before any input is read: the rename at the end would fail anyway.
                if names_directory(path) {
                    reporter.error(&name, "is a directory");
                    return None;
                }
                if fs::symlink_metadata(path).is_ok() && !force {
                    reporter.error(&name, "already exists; not overwritten (-f overwrites)");
                    return None;
                }
                let dest = link_target(path);
                let replaced = fs::metadata(&dest).ok().filter(Metadata::is_file).map(|meta| Ownership::of(&meta));
                (name, OutFile::create(&dest).map(|f| Sink::File(f, replaced)))
            }
            None => ("stdout".to_owned(), stdio::stdout().map(Sink::Stream)),
        };
        match opened {
            Ok(sink) => Some((name, sink)),
            Err(e) => {
                reporter.error(&name, io_message(&e));
                None
            }
        }
    }

    pub fn writer(&mut self) -> &mut dyn Write {
        match self {
            Sink::File(f, _) => f.file(),
            Sink::Stream(f) => f,
        }
    }

    /// Puts a complete output file in place (reporting a failure under `name`). Dropping a
    /// sink instead removes its file.
    pub fn commit(self, name: &str, reporter: &mut Reporter) {
        if let Sink::File(f, replaced) = self {
            let committed = match replaced {
                Some(replaced) => f.commit_over(replaced),
                None => f.commit(None),
            };
            if let Err(e) = committed {
                reporter.error(name, io_message(&e));
            }
        }
    }
}

/// Whether `path` names a directory: an existing one (`.`), or any path ending in `/`.
fn names_directory(path: &Path) -> bool {
    path.as_os_str().as_bytes().ends_with(b"/") || fs::metadata(path).is_ok_and(|meta| meta.is_dir())
}

/// Whether `path` is, or links to, an existing file that is neither a regular file nor a
/// directory: a character or block device, a FIFO, a socket.
fn is_special(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|meta| !meta.is_file() && !meta.is_dir())
}

/// The file a link at `path` leads to (all links followed), or `path` itself. Replacing the
/// link instead would break it, and `-o /dev/stdout` (a link to /proc/self/fd/1) with standard
/// output on a file would rename the output over /dev's own link, leaving the file empty.
fn link_target(path: &Path) -> PathBuf {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_symlink() => fs::canonicalize(path).unwrap_or_else(|_| path.to_owned()),
        _ => path.to_owned(),
    }
}
