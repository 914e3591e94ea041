//! How `tetra migrate` and `tetra ctl snapshot` show the VM's progress on stderr (issue 16,
//! item 7).
//!
//! On a terminal: one status line, redrawn in place, with a bar for the round being sent (the
//! source reports a sending round at most every quarter second, `sending, D of T pages`) and,
//! after each round, its figures (bytes, rate, round, expected downtime). Anywhere else: the
//! lines as they come, one per round as before, without the within-round ones.

use std::io::{IsTerminal, Write};

/// The bar's width in characters.
const BAR: usize = 24;
/// A status line is cut to this many characters (a narrow terminal would wrap it).
const WIDTH: usize = 150;

/// The progress display of one request.
pub struct ProgressView {
    tty: bool,
    /// A status line is on the screen, not ended by a newline.
    drawn: bool,
    out: Box<dyn Write>,
}

impl ProgressView {
    /// A display on stderr, redrawn in place when stderr is a terminal.
    pub fn stderr() -> Self {
        Self::new(std::io::stderr().is_terminal(), Box::new(std::io::stderr()))
    }

    fn new(tty: bool, out: Box<dyn Write>) -> Self {
        ProgressView {
            tty,
            drawn: false,
            out,
        }
    }

    /// One line of the reply before its end (`progress: ...` or anything else).
    pub fn line(&mut self, l: &str) {
        let Some(p) = l.strip_prefix("progress: ") else {
            self.finish();
            let _ = writeln!(self.out, "tetra: {l}");
            return;
        };
        if self.tty {
            let mut text = match sending(p) {
                Some((done, all)) => format!("{} {p}", bar(done, all)),
                None => format!("{} {p}", bar(1, 1)),
            };
            if let Some((i, _)) = text.char_indices().nth(WIDTH) {
                text.truncate(i);
            }
            let _ = write!(self.out, "\r\x1b[K{text}");
            let _ = self.out.flush();
            self.drawn = true;
        } else if sending(p).is_none() {
            let _ = writeln!(self.out, "tetra: {l}");
        }
    }

    /// Ends the status line (before the summary or an error).
    pub fn finish(&mut self) {
        if self.drawn {
            let _ = writeln!(self.out);
            self.drawn = false;
        }
    }
}

/// `sending, D of T pages` (a migration's round) or `writing memory, D of T pages` (a
/// snapshot's) in a progress text: (D, T).
fn sending(p: &str) -> Option<(u64, u64)> {
    let at = ["sending, ", "writing memory, "]
        .iter()
        .find_map(|w| p.find(w).map(|i| i + w.len()))?;
    let rest = &p[at..];
    let (done, rest) = rest.split_once(" of ")?;
    let (all, _) = rest.split_once(" pages")?;
    Some((done.parse().ok()?, all.parse().ok()?))
}

/// `[#####-------] 42%` for `done` of `all`.
fn bar(done: u64, all: u64) -> String {
    let frac = if all == 0 {
        1.0
    } else {
        (done.min(all) as f64) / all as f64
    };
    let full = (frac * BAR as f64).round() as usize;
    format!(
        "[{}{}] {:3.0}%",
        "#".repeat(full),
        "-".repeat(BAR - full),
        frac * 100.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer whose bytes the test reads.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    const SENDING: &str =
        "progress: PreCopy round 0: sending, 250 of 1000 pages; sent 1.0 MiB, 40 MiB/s";
    const ROUND: &str = "progress: PreCopy round 1: sent 3.9 MiB (1000 pages), dirty 3 pages, dirty rate 10 pages/s, 40 MiB/s, expected downtime 0.3 ms";

    fn shown(tty: bool, lines: &[&str]) -> String {
        let sink = Sink::default();
        let mut v = ProgressView::new(tty, Box::new(sink.clone()));
        for l in lines {
            v.line(l);
        }
        v.finish();
        let b = sink.0.lock().unwrap().clone();
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn a_terminal_gets_one_line_redrawn_with_a_bar() {
        let out = shown(true, &[SENDING, ROUND]);
        assert_eq!(out.matches("\r\x1b[K").count(), 2, "{out:?}");
        assert!(
            out.contains("[######------------------]  25% PreCopy round 0"),
            "{out:?}"
        );
        assert!(
            out.contains("[########################] 100% PreCopy round 1"),
            "{out:?}"
        );
        assert!(
            out.ends_with('\n') && out.matches('\n').count() == 1,
            "{out:?}"
        );
    }

    #[test]
    fn elsewhere_one_plain_line_per_round_as_before() {
        let out = shown(false, &[SENDING, ROUND, "something else"]);
        assert_eq!(
            out,
            format!("tetra: {ROUND}\ntetra: something else\n"),
            "within-round lines are left out"
        );
    }

    #[test]
    fn sending_counts_are_read_and_the_bar_is_bounded() {
        assert_eq!(sending(&SENDING["progress: ".len()..]), Some((250, 1000)));
        assert_eq!(sending("PreCopy round 1: sent 3.9 MiB"), None);
        assert_eq!(sending("sending, x of 3 pages"), None);
        // A snapshot's progress, as the VM words it.
        let snap = vmm_core::snapshot::SnapshotProgress {
            done_pages: 12,
            total_pages: 40,
            written_bytes: 3 << 20,
            elapsed: std::time::Duration::from_secs(1),
        };
        let text = snap.to_string();
        assert_eq!(sending(&text), Some((12, 40)), "{text}");
        assert!(text.contains("3.0 MiB written, 3 MiB/s"), "{text}");
        assert_eq!(bar(5, 0), bar(1, 1));
        assert!(bar(7, 3).contains("100%"));
    }
}
