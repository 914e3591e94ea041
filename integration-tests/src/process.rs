//! A `tetra` process under test: its output is collected as it comes, so a test can wait for a
//! line, talk to it, and check how it ended.

use std::io::Read;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `tetra`.
pub struct Tetra {
    child: Child,
    stdin: Option<ChildStdin>,
    out: Arc<Mutex<Vec<u8>>>,
    err: Arc<Mutex<Vec<u8>>>,
    /// The threads reading stdout and stderr: they end at the pipes' end of file.
    readers: Vec<std::thread::JoinHandle<()>>,
}

fn collect(
    mut r: impl Read + Send + 'static,
) -> (Arc<Mutex<Vec<u8>>>, std::thread::JoinHandle<()>) {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let b = buf.clone();
    let reader = std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = r.read(&mut chunk) {
            if n == 0 {
                break;
            }
            b.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    });
    (buf, reader)
}

impl Tetra {
    /// Starts `tetra ARGS` with stdin at end of file.
    pub fn spawn(args: &[&str]) -> Result<Tetra, String> {
        Self::start(args, false)
    }

    /// Starts `tetra ARGS` with stdin a pipe that [`Tetra::type_in`] writes to (the guest's
    /// console input).
    pub fn spawn_with_stdin(args: &[&str]) -> Result<Tetra, String> {
        Self::start(args, true)
    }

    fn start(args: &[&str], stdin: bool) -> Result<Tetra, String> {
        let bin = crate::run::tetra_bin()?;
        let mut child = Command::new(&bin)
            .args(args)
            .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", bin.display()))?;
        let (out, out_reader) = collect(child.stdout.take().unwrap());
        let (err, err_reader) = collect(child.stderr.take().unwrap());
        let stdin = child.stdin.take();
        Ok(Tetra {
            child,
            stdin,
            out,
            err,
            readers: vec![out_reader, err_reader],
        })
    }

    /// Writes `bytes` to its stdin (started with [`Tetra::spawn_with_stdin`]).
    pub fn type_in(&mut self, bytes: &[u8]) -> Result<(), String> {
        use std::io::Write;
        let pipe = self
            .stdin
            .as_mut()
            .ok_or("tetra was started without a stdin pipe")?;
        pipe.write_all(bytes)
            .and_then(|()| pipe.flush())
            .map_err(|e| format!("writing to tetra's stdin: {e}"))
    }

    /// Its stdout so far.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.lock().unwrap()).into_owned()
    }

    /// Its stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.err.lock().unwrap()).into_owned()
    }

    /// Waits until `text` appears on stdout (or stderr with `on_stderr`).
    pub fn wait_for(&mut self, text: &str, on_stderr: bool) -> Result<(), String> {
        let deadline = Instant::now() + crate::run::timeout();
        loop {
            let s = if on_stderr {
                self.stderr()
            } else {
                self.stdout()
            };
            if s.contains(text) {
                return Ok(());
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                return Err(format!(
                    "tetra ended ({st}) before {text:?}; stdout:\n{}\nstderr:\n{}",
                    self.stdout(),
                    self.stderr()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "timed out waiting for {text:?}; stdout:\n{}\nstderr:\n{}",
                    self.stdout(),
                    self.stderr()
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits for the process to end.
    pub fn wait(mut self) -> Result<(ExitStatus, String, String), String> {
        let deadline = Instant::now() + crate::run::timeout();
        loop {
            if let Some(st) = self.child.try_wait().map_err(|e| e.to_string())? {
                // Everything it wrote is read once both pipes reach their end (a loaded host can
                // take longer than any fixed pause to get the last line through).
                let drained = Instant::now() + Duration::from_secs(5);
                while !self.readers.iter().all(|r| r.is_finished()) && Instant::now() < drained {
                    std::thread::sleep(Duration::from_millis(2));
                }
                return Ok((st, self.stdout(), self.stderr()));
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return Err(format!(
                    "tetra did not end; stdout:\n{}\nstderr:\n{}",
                    self.stdout(),
                    self.stderr()
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process with SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Tetra {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `tetra ARGS` to its end: (status, stdout, stderr).
pub fn tetra(args: &[&str]) -> Result<(ExitStatus, String, String), String> {
    Tetra::spawn(args)?.wait()
}

/// Waits until `path` exists (a socket being bound).
pub fn wait_for_path(path: &Path) -> Result<(), String> {
    let deadline = Instant::now() + crate::run::timeout();
    while !path.exists() {
        if Instant::now() > deadline {
            return Err(format!("{} never appeared", path.display()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}
