//! `tetra run --log-level LEVEL --log-file PATH`: the events the libraries emit through
//! `tracing` (vCPU threads starting and ending, control requests and their outcome, migration
//! progress, devices that need a reset, the guest's end), one line each, the vCPU as a field
//! (`vcpu{id=N}: ...`). Off unless asked for; the one-line errors on stderr stay as they are.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tracing::Level;

/// Where and how much to log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// `--log-level`; with only `--log-file`, `info`.
    pub level: Option<Level>,
    /// `--log-file`: appended to (created if missing); stderr without it.
    pub file: Option<PathBuf>,
}

/// A log that cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The file cannot be opened for appending.
    #[error("--log-file {path}")]
    Open {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// It is a directory, a FIFO or a device: logs go to regular files only.
    #[error("--log-file {0}: not a regular file")]
    NotRegular(String),
}

/// `text` as a level: error, warn, info, debug or trace.
pub fn parse_level(text: &str) -> Result<Level, String> {
    text.parse::<Level>()
        .map_err(|_| format!("'{text}': expected error, warn, info, debug or trace"))
}

/// A level's name as `--log-level` takes it.
pub fn level_name(level: Level) -> String {
    level.as_str().to_ascii_lowercase()
}

fn open(path: &Path) -> Result<File, LogError> {
    let name = || path.display().to_string();
    // Appended to, never truncated: a file of the user's keeps what it had. Non-blocking, so a
    // FIFO without a reader is an error rather than a hang (and is refused below anyway).
    let f = OpenOptions::new()
        .append(true)
        .create(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|source| LogError::Open {
            path: name(),
            source,
        })?;
    let meta = f.metadata().map_err(|source| LogError::Open {
        path: name(),
        source,
    })?;
    if !meta.is_file() {
        return Err(LogError::NotRegular(name()));
    }
    Ok(f)
}

/// Installs the process's subscriber when `options` ask for logs; does nothing otherwise.
pub fn init(options: &LogOptions) -> Result<(), LogError> {
    let level = match (options.level, &options.file) {
        (Some(l), _) => l,
        (None, Some(_)) => Level::INFO,
        (None, None) => return Ok(()),
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_ansi(false)
        .with_target(false);
    // A second subscriber (a test calling this twice) is refused by tracing: the first stays.
    let _ = match &options.file {
        Some(path) => {
            let f = Mutex::new(open(path)?);
            tracing::subscriber::set_global_default(builder.with_writer(f).finish())
        }
        None => {
            tracing::subscriber::set_global_default(builder.with_writer(std::io::stderr).finish())
        }
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_by_name_and_others_are_refused() {
        for (t, l) in [
            ("error", Level::ERROR),
            ("WARN", Level::WARN),
            ("trace", Level::TRACE),
        ] {
            assert_eq!(parse_level(t), Ok(l));
            assert_eq!(parse_level(&level_name(l)), Ok(l));
        }
        let e = parse_level("loud").unwrap_err();
        assert!(e.contains("'loud'") && e.contains("debug"), "{e}");
    }

    #[test]
    fn a_log_file_is_appended_to_and_must_be_a_regular_file() {
        let dir = std::env::temp_dir().join(format!("tetra-logs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("log");
        std::fs::write(&p, "kept\n").unwrap();
        use std::io::Write;
        writeln!(open(&p).unwrap(), "added").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "kept\nadded\n");
        let e = open(&dir).unwrap_err();
        assert!(e.to_string().contains("--log-file"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
