//! Snapshots written by older versions of tetra (`fixtures/<arch>/`), embedded at build time so
//! that the suite finds them wherever it runs.

include!(concat!(env!("OUT_DIR"), "/fixtures.rs"));

/// The bytes of fixture `name`, if this arch has it.
pub fn get(name: &str) -> Option<&'static [u8]> {
    FILES.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

/// Writes every fixture into `dir` (a snapshot's state file and memory file must lie side by
/// side); returns how many there were.
pub fn write_all(dir: &std::path::Path) -> std::io::Result<usize> {
    for (name, bytes) in FILES {
        std::fs::write(dir.join(name), bytes)?;
    }
    Ok(FILES.len())
}
