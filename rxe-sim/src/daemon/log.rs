//! Structured logs on stderr: one line per event, `level=… event=… key=value…`, filtered by
//! `ACCELSIM_LOG` (error, warn, info, debug; info by default).

use std::fmt::Arguments;
use std::io::Write;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

fn threshold() -> Level {
    static THRESHOLD: OnceLock<Level> = OnceLock::new();
    *THRESHOLD.get_or_init(|| match std::env::var("ACCELSIM_LOG").as_deref() {
        Ok("error") => Level::Error,
        Ok("warn") => Level::Warn,
        Ok("debug") => Level::Debug,
        _ => Level::Info,
    })
}

/// Writes one event if its level passes the filter; `fields` is already `key=value …`.
pub fn event(level: Level, event: &str, fields: Arguments<'_>) {
    if level > threshold() {
        return;
    }
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    // A failed write to stderr has nowhere to be reported.
    let _ = writeln!(
        std::io::stderr().lock(),
        "ts={}.{:06} level={} event={event} {fields}",
        now.as_secs(),
        now.subsec_micros(),
        level.name()
    );
}

/// `log!(Info, "client_connected", "pid={} uid={}", pid, uid)`.
macro_rules! log {
    ($level:ident, $event:expr, $($fmt:tt)*) => {
        $crate::daemon::log::event($crate::daemon::log::Level::$level, $event, format_args!($($fmt)*))
    };
}
pub(crate) use log;
