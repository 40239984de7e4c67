//! Exit statuses as gzip has them (0 success, 1 error, 2 warning; an error outranks a
//! warning) and the messages that set them, each naming its file: `accel: FILE: message`;
//! and the lines of reports on standard output, whose failure fails the run.

use std::fmt::{Arguments, Display};
use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::OnceLock;

use crate::pipeline::Failure;

/// How a run went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Exit {
    #[default]
    Ok,
    Warning,
    Error,
}

impl Exit {
    pub fn code(self) -> ExitCode {
        ExitCode::from(match self {
            Exit::Ok => 0,
            Exit::Error => 1,
            Exit::Warning => 2,
        })
    }
}

/// Prints messages and keeps the worst status seen.
#[derive(Debug, Default)]
pub struct Reporter {
    quiet: bool,
    status: Exit,
}

impl Reporter {
    pub fn new(quiet: bool) -> Self {
        Self { quiet, status: Exit::Ok }
    }

    pub fn status(&self) -> Exit {
        self.status
    }

    pub fn quiet(&self) -> bool {
        self.quiet
    }

    /// An error: always printed.
    pub fn error(&mut self, name: &str, message: impl Display) {
        say(format_args!("accel: {name}: {message}"));
        self.status = self.status.max(Exit::Error);
    }

    /// A warning: printed unless quiet, exit status 2 either way.
    pub fn warn(&mut self, name: &str, message: impl Display) {
        if !self.quiet {
            say(format_args!("accel: {name}: {message}"));
        }
        self.status = self.status.max(Exit::Warning);
    }

    /// A notice that leaves the status alone (printed unless quiet).
    pub fn note(&self, name: &str, message: impl Display) {
        if !self.quiet {
            say(format_args!("accel: {name}: {message}"));
        }
    }
}

/// Why a line of a report could not be written to standard output, the first time one could
/// not.
static STDOUT_FAILED: OnceLock<String> = OnceLock::new();

/// Prints one line of a report (`devinfo`, `perf`, `demo`) on standard output. A line that
/// cannot be written is dropped and the first failure kept, for `main` to report and fail the
/// run with, where `println!` would panic (`accel devinfo > /dev/full`).
pub fn out_line(line: Arguments) {
    if let Err(e) = writeln!(io::stdout(), "{line}") {
        let _ = STDOUT_FAILED.set(io_message(&e));
    }
}

/// Why report lines could not be written to standard output, if one could not.
pub fn stdout_failure() -> Option<&'static str> {
    STDOUT_FAILED.get().map(String::as_str)
}

/// `println!` for reports, through [`out_line`].
macro_rules! out {
    () => {
        $crate::status::out_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::status::out_line(format_args!($($arg)*))
    };
}
pub(crate) use out;

/// Prints one line on stderr. A line that cannot be written (`2>/dev/full`) is dropped, as
/// gzip drops it: the exit status still tells, where `eprintln!` would panic.
pub fn say(line: Arguments) {
    let _ = writeln!(io::stderr(), "{line}");
}

/// An I/O error as `strerror` words it, without Rust's "(os error N)".
pub fn io_message(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

impl Reporter {
    /// A run of the pipeline failed: read and data errors name the input, write errors the
    /// output.
    pub fn failure(&mut self, input: &str, output: &str, failure: &Failure) {
        match failure {
            Failure::Read(e) => self.error(input, io_message(e)),
            Failure::Write(e) => self.error(output, io_message(e)),
            Failure::Data(d) => self.error(input, d),
            Failure::Device(d) => self.error(input, d),
        }
    }
}
