//! `accel gzip` and `accel gunzip` (`accel gzip -d`): GNU gzip's behaviour for the options they
//! take, through the device pipeline. FILE becomes FILE.gz (and back), replacing it unless -k;
//! -c writes to standard output and keeps the input; no FILE, or `-`, is standard input to
//! standard output. An existing output is left alone without -f; compressed data is not
//! written to (or read from) a terminal without -f. Exit status 0, 1 on an error, 2 on a
//! warning (an error wins).

use std::ffi::OsStr;
use std::fs::{self, File, Metadata};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use accelverbs::Format;
use clap::Args;

use crate::outfile::OutFile;
use crate::pipeline::{Failure, Pipeline, Totals, Trailing};
use crate::progress::Progress;
use crate::status::{io_message, say, Exit, Reporter};
use crate::stdio;

/// The suffixes gunzip knows and what replaces each (gzip's list).
const SUFFIXES: [(&str, &str); 7] =
    [(".gz", ""), (".tgz", ".tar"), (".taz", ".tar"), ("-gz", ""), (".z", ""), ("-z", ""), ("_z", "")];

/// The ids of the level flags, each overriding the others: the last one given wins.
const LEVELS: [&str; 9] = ["level1", "level2", "level3", "level4", "level5", "level6", "level7", "level8", "level9"];

/// -1 … -9 (--fast, --best).
#[derive(Args, Debug, Default)]
pub struct LevelFlags {
    /// Compress faster (level 1).
    #[arg(short = '1', long = "fast", overrides_with_all = LEVELS)]
    level1: bool,
    #[arg(short = '2', hide = true, overrides_with_all = LEVELS)]
    level2: bool,
    #[arg(short = '3', hide = true, overrides_with_all = LEVELS)]
    level3: bool,
    #[arg(short = '4', hide = true, overrides_with_all = LEVELS)]
    level4: bool,
    #[arg(short = '5', hide = true, overrides_with_all = LEVELS)]
    level5: bool,
    /// The default level, 6 (-2 … -8 likewise).
    #[arg(short = '6', overrides_with_all = LEVELS)]
    level6: bool,
    #[arg(short = '7', hide = true, overrides_with_all = LEVELS)]
    level7: bool,
    #[arg(short = '8', hide = true, overrides_with_all = LEVELS)]
    level8: bool,
    /// Compress better (level 9).
    #[arg(short = '9', long = "best", overrides_with_all = LEVELS)]
    level9: bool,
}

impl LevelFlags {
    fn level(&self) -> i8 {
        let flags =
            [self.level1, self.level2, self.level3, self.level4, self.level5, self.level6, self.level7, self.level8, self.level9];
        flags.iter().position(|&on| on).map_or(Format::Gzip.default_level(), |i| i as i8 + 1)
    }
}

/// Options gzip and gunzip share.
#[derive(Args, Debug)]
pub struct Common {
    /// Keep (don't delete) input files.
    #[arg(short, long)]
    keep: bool,
    /// Write on standard output; keep the input files.
    #[arg(short = 'c', long = "stdout", visible_alias = "to-stdout")]
    stdout: bool,
    /// Overwrite existing outputs, follow symbolic links, use terminals.
    #[arg(short, long)]
    force: bool,
    /// Suppress warnings.
    #[arg(short, long)]
    quiet: bool,
    /// Name each file with its compression ratio.
    #[arg(short, long)]
    verbose: bool,
    /// Files to process; none or `-` is standard input to standard output.
    files: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct GzipArgs {
    #[command(flatten)]
    levels: LevelFlags,
    /// Decompress (as gunzip).
    #[arg(short, long, visible_alias = "uncompress")]
    decompress: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
pub struct GunzipArgs {
    /// Decompress: what gunzip does anyway. Taken, as GNU gunzip (`gzip -d`) takes it, so
    /// `gunzip -dc FILE` works.
    #[arg(short, long, visible_alias = "uncompress", hide = true)]
    decompress: bool,
    #[command(flatten)]
    common: Common,
}

pub fn gzip(args: GzipArgs) -> Exit {
    let level = args.levels.level();
    Run::new(args.common, args.decompress, level).all()
}

pub fn gunzip(args: GunzipArgs) -> Exit {
    Run::new(args.common, true, 0).all()
}

/// One command line's work.
struct Run {
    opts: Common,
    decompress: bool,
    level: i8,
    reporter: Reporter,
    /// Opened for the first file; reopened after a device failure.
    pipeline: Option<Pipeline>,
}

impl Run {
    fn new(opts: Common, decompress: bool, level: i8) -> Self {
        let reporter = Reporter::new(opts.quiet);
        Self { opts, decompress, level, reporter, pipeline: None }
    }

    fn all(mut self) -> Exit {
        let files = std::mem::take(&mut self.opts.files);
        let to_stdout = self.opts.stdout || files.is_empty() || files.iter().any(|f| f.as_os_str() == "-");
        if to_stdout && !self.decompress && !self.opts.force && stdio::stdout_is_terminal() {
            self.reporter.error("stdout", "compressed data not written to a terminal. Use -f to force compression.");
            return self.reporter.status();
        }
        if files.is_empty() {
            self.stdin();
        }
        for file in &files {
            if file.as_os_str() == "-" {
                self.stdin();
            } else {
                self.file(file);
            }
        }
        self.reporter.status()
    }

    fn stdin(&mut self) {
        if self.decompress && !self.opts.force && stdio::stdin_is_terminal() {
            self.reporter.error("stdin", "compressed data not read from a terminal. Use -f to force decompression.");
            return;
        }
        let opened = stdio::stdin().and_then(|input| Ok((input, stdio::stdout()?)));
        let (mut input, mut output) = match opened {
            Ok(pair) => pair,
            Err(e) => return self.reporter.error("stdin", io_message(&e)),
        };
        let size = stdio::regular_size(&input);
        if let Some(totals) = self.transcode("stdin", &mut input, size, "stdout", &mut output) {
            self.summary("stdin", &totals, None);
        }
    }

    fn file(&mut self, operand: &Path) {
        let Some((path, meta)) = self.find_input(operand) else { return };
        let name = path.display().to_string();
        let meta = if meta.is_symlink() {
            if !self.opts.force && !self.opts.stdout {
                return self.reporter.error(&name, "is a symbolic link -- ignored (-f follows it)");
            }
            match fs::metadata(&path) {
                Ok(m) => m,
                Err(e) => return self.reporter.error(&name, io_message(&e)),
            }
        } else {
            meta
        };
        if meta.is_dir() {
            return self.reporter.warn(&name, "is a directory -- ignored");
        }
        if self.opts.stdout {
            // As gzip: with -c any file that reads will do, a pipe or device too (`<(cmd)`,
            // /dev/stdin), since nothing is created beside it or removed.
            let size = meta.is_file().then_some(meta.len());
            let opened = File::open(&path).and_then(|input| Ok((input, stdio::stdout()?)));
            match opened {
                Ok((mut input, mut output)) => {
                    if let Some(totals) = self.transcode(&name, &mut input, size, "stdout", &mut output) {
                        self.summary(&name, &totals, None);
                    }
                }
                Err(e) => self.reporter.error(&name, io_message(&e)),
            }
            return;
        }
        if !meta.is_file() {
            return self.reporter.warn(&name, "is not a directory or a regular file -- ignored");
        }
        // As gzip: the output gets the permission bits only, so a set-user-ID or set-group-ID
        // file would come back without them; a sticky one is left alone unless -f.
        if meta.mode() & libc::S_ISUID != 0 {
            return self.reporter.warn(&name, "is set-user-ID on execution -- ignored");
        }
        if meta.mode() & libc::S_ISGID != 0 {
            return self.reporter.warn(&name, "is set-group-ID on execution -- ignored");
        }
        if meta.mode() & libc::S_ISVTX != 0 && !self.opts.force {
            return self.reporter.warn(&name, "has the sticky bit set -- file ignored");
        }
        let Some(dest) = self.output_path(&path, &name) else { return };
        let dest_name = dest.display().to_string();
        if meta.nlink() > 1 && !self.opts.force {
            let others = meta.nlink() - 1;
            let plural = if others == 1 { "" } else { "s" };
            return self.reporter.warn(&name, format!("has {others} other link{plural} -- file ignored"));
        }
        if fs::symlink_metadata(&dest).is_ok() && !self.opts.force {
            return self.reporter.warn(&dest_name, "already exists; not overwritten");
        }
        let mut input = match File::open(&path) {
            Ok(f) => f,
            Err(e) => return self.reporter.error(&name, io_message(&e)),
        };
        let mut out = match OutFile::create(&dest) {
            Ok(f) => f,
            Err(e) => return self.reporter.error(&dest_name, io_message(&e)),
        };
        // On failure `out` is dropped here, and with it the partial output.
        let Some(totals) = self.transcode(&name, &mut input, Some(meta.len()), &dest_name, out.file()) else { return };
        if let Err(e) = out.commit(Some(&meta)) {
            return self.reporter.error(&dest_name, io_message(&e));
        }
        if !self.opts.keep {
            if let Err(e) = fs::remove_file(&path) {
                self.reporter.warn(&name, io_message(&e));
            }
        }
        let action = if self.opts.keep { "created" } else { "replaced with" };
        self.summary(&name, &totals, Some(format!("{action} {dest_name}")));
    }

    /// The operand's metadata (not following a symbolic link). gunzip given FILE finds
    /// FILE.gz, as gzip does.
    fn find_input(&mut self, operand: &Path) -> Option<(PathBuf, Metadata)> {
        let name = operand.display().to_string();
        match fs::symlink_metadata(operand) {
            Ok(meta) => Some((operand.to_owned(), meta)),
            Err(e) => {
                if self.decompress && e.kind() == std::io::ErrorKind::NotFound && strip_suffix(operand).is_none() {
                    let mut with_gz = operand.as_os_str().to_owned();
                    with_gz.push(".gz");
                    let with_gz = PathBuf::from(with_gz);
                    if let Ok(meta) = fs::symlink_metadata(&with_gz) {
                        return Some((with_gz, meta));
                    }
                }
                self.reporter.error(&name, io_message(&e));
                None
            }
        }
    }

    /// FILE.gz for gzip (unless FILE has a gzip suffix already, and no -f); FILE less its
    /// suffix for gunzip (none known: a warning).
    fn output_path(&mut self, path: &Path, name: &str) -> Option<PathBuf> {
        let stripped = strip_suffix(path);
        if self.decompress {
            if stripped.is_none() {
                self.reporter.warn(name, "unknown suffix -- ignored");
            }
            return stripped.map(|(plain, _)| plain);
        }
        if let Some((_, suffix)) = stripped.filter(|_| !self.opts.force) {
            // gzip leaves the exit status alone here.
            self.reporter.note(name, format!("already has {suffix} suffix -- unchanged"));
            return None;
        }
        let mut dest = path.as_os_str().to_owned();
        dest.push(".gz");
        Some(PathBuf::from(dest))
    }

    /// Runs the pipeline from `input` to `output`; reports a failure and returns `None`.
    fn transcode(
        &mut self,
        name: &str,
        input: &mut File,
        size: Option<u64>,
        output_name: &str,
        output: &mut dyn Write,
    ) -> Option<Totals> {
        let progress = Progress::new(name, size, self.reporter.quiet());
        if self.pipeline.is_none() {
            match Pipeline::open() {
                Ok(p) => self.pipeline = Some(p),
                Err(f) => {
                    self.reporter.failure(name, output_name, &f);
                    return None;
                }
            }
        }
        let pipeline = self.pipeline.as_mut()?;
        let result = if self.decompress {
            pipeline.decompress(Format::Gzip, None, input, output, &progress)
        } else {
            pipeline.compress(Format::Gzip, self.level, input, output, &progress)
        };
        drop(progress);
        match result {
            Ok(totals) => {
                if totals.trailing == Trailing::Garbage {
                    self.reporter.warn(name, "decompression OK, trailing garbage ignored");
                }
                Some(totals)
            }
            Err(failure) => {
                if matches!(failure, Failure::Device(_)) {
                    self.pipeline = None;
                }
                self.reporter.failure(name, output_name, &failure);
                None
            }
        }
    }

    /// -v: the file, how much it shrank, and what became of it.
    fn summary(&self, name: &str, totals: &Totals, action: Option<String>) {
        if !self.opts.verbose || self.opts.quiet {
            return;
        }
        let (plain, packed) = if self.decompress { (totals.written, totals.read) } else { (totals.read, totals.written) };
        let saved = if plain == 0 { 0.0 } else { 100.0 * (1.0 - packed as f64 / plain as f64) };
        match action {
            Some(action) => say(format_args!("{name}:\t{saved:5.1}% -- {action}")),
            None => say(format_args!("{name}:\t{saved:5.1}%")),
        }
    }
}

/// `path` less a gzip suffix, and the suffix as the name spells it, if it has one (and a name
/// before it). As gzip, the suffix's case does not matter (`A.GZ` becomes `A`, `A.TGZ`
/// `A.tar`). Names are bytes: one that is not UTF-8 keeps its bytes.
fn strip_suffix(path: &Path) -> Option<(PathBuf, String)> {
    let file_name = path.file_name()?.as_bytes();
    SUFFIXES.iter().find_map(|&(suffix, replacement)| {
        let stem_len = file_name.len().checked_sub(suffix.len()).filter(|&n| n > 0)?;
        let (stem, found) = file_name.split_at(stem_len);
        if !found.eq_ignore_ascii_case(suffix.as_bytes()) {
            return None;
        }
        let plain = [stem, replacement.as_bytes()].concat();
        Some((path.with_file_name(OsStr::from_bytes(&plain)), String::from_utf8_lossy(found).into_owned()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_map_as_gzip_maps_them() {
        let plain = |p: &str| strip_suffix(Path::new(p)).map(|(p, s)| (p.display().to_string(), s));
        let both = |p: &str, s: &str| Some((p.to_owned(), s.to_owned()));
        assert_eq!(plain("a.gz"), both("a", ".gz"));
        assert_eq!(plain("dir/a.tgz"), both("dir/a.tar", ".tgz"));
        assert_eq!(plain("a.taz"), both("a.tar", ".taz"));
        assert_eq!(plain("a_z"), both("a", "_z"));
        assert_eq!(plain("A.GZ"), both("A", ".GZ"), "any case, as gzip");
        assert_eq!(plain("A.Tgz"), both("A.tar", ".Tgz"));
        assert_eq!(plain("a.Z"), both("a", ".Z"));
        assert_eq!(plain("a.txt"), None);
        assert_eq!(plain(".gz"), None, "nothing before the suffix");
        assert_eq!(plain("dir.gz/a"), None, "the directory's name does not count");
    }
}
