//! The progress bar: bytes, rate and ETA on stderr, for inputs over `THRESHOLD` bytes when
//! stderr is a terminal and the run is not quiet. Silent otherwise.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::pipeline;

/// Inputs at most this large finish too fast for a bar to help.
pub const THRESHOLD: u64 = 64 << 20;

/// A bar, or nothing.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar for `name` when the input's size is known and over the threshold, stderr is a
    /// terminal and `quiet` is off.
    pub fn new(name: &str, size: Option<u64>, quiet: bool) -> Self {
        let total = size.filter(|&s| s > THRESHOLD);
        let bar = match total {
            Some(total) if !quiet && std::io::stderr().is_terminal() => {
                let style = ProgressStyle::with_template(
                    "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
                )
                .map(|s| s.progress_chars("=> "))
                .unwrap_or_else(|_| ProgressStyle::default_bar());
                let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()).with_style(style);
                bar.set_message(name.to_owned());
                bar.enable_steady_tick(Duration::from_millis(200));
                Some(bar)
            }
            _ => None,
        };
        Self { bar }
    }
}

impl pipeline::Progress for Progress {
    fn advance(&self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }
}

impl Drop for Progress {
    /// The bar goes before anything else is printed (a summary, an error).
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
