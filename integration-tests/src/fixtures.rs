//! Snapshots written by older versions of tetra (`fixtures/<arch>/`), embedded at build time so
//! that the suite finds them wherever it runs.
//!
//! A snapshot's memory file is mostly zeros (a test guest touches a few pages of its RAM), so a
//! fixture may keep it in the sparse form of [`sparse_encode`], as `<memory file>.sparse`:
//! [`write_all`] writes it out as the memory file itself, with holes where the zeros were.

include!(concat!(env!("OUT_DIR"), "/fixtures.rs"));

/// The bytes of fixture `name`, if this arch has it.
pub fn get(name: &str) -> Option<&'static [u8]> {
    FILES.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

/// Writes every fixture into `dir` (a snapshot's state file and memory file must lie side by
/// side); a `NAME.sparse` fixture becomes the file `NAME` ([`sparse_decode`]). Returns how many
/// files there were.
pub fn write_all(dir: &std::path::Path) -> std::io::Result<usize> {
    for (name, bytes) in FILES {
        match name.strip_suffix(SPARSE_SUFFIX) {
            Some(real) => sparse_decode(bytes, &std::fs::File::create(dir.join(real))?)?,
            None => std::fs::write(dir.join(name), bytes)?,
        }
    }
    Ok(FILES.len())
}

/// The file name suffix of a fixture kept in sparse form.
pub const SPARSE_SUFFIX: &str = ".sparse";

/// The magic of the sparse form.
const SPARSE_MAGIC: &[u8; 8] = b"TSPARSE1";

/// The sparse form of `bytes`: `TSPARSE1`, the length (`u64` little-endian), then each run of
/// non-zero `block`-byte blocks as its offset and length (`u64` each) and its bytes. Zero blocks
/// are left out.
pub fn sparse_encode(bytes: &[u8], block: usize) -> Vec<u8> {
    let block = block.max(1);
    let mut out = SPARSE_MAGIC.to_vec();
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    let push = |out: &mut Vec<u8>, start: usize, end: usize| {
        out.extend_from_slice(&(start as u64).to_le_bytes());
        out.extend_from_slice(&((end - start) as u64).to_le_bytes());
        out.extend_from_slice(&bytes[start..end]);
    };
    let mut run: Option<usize> = None;
    for at in (0..bytes.len()).step_by(block) {
        let end = (at + block).min(bytes.len());
        let data = bytes[at..end].iter().any(|&b| b != 0);
        match (data, run) {
            (true, None) => run = Some(at),
            (false, Some(start)) => {
                push(&mut out, start, at);
                run = None;
            }
            _ => {}
        }
    }
    if let Some(start) = run {
        push(&mut out, start, bytes.len());
    }
    out
}

/// Writes the file that [`sparse_encode`] described into `file` (its length set, its runs
/// written, holes elsewhere). A malformed description is an `InvalidData` error.
pub fn sparse_decode(sparse: &[u8], file: &std::fs::File) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let bad = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_string());
    let rest = sparse
        .strip_prefix(SPARSE_MAGIC)
        .ok_or_else(|| bad("not a sparse fixture (no TSPARSE1 magic)"))?;
    let u64_at = |b: &[u8], at: usize| -> Option<u64> {
        Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
    };
    let len = u64_at(rest, 0).ok_or_else(|| bad("sparse fixture: truncated length"))?;
    file.set_len(len)?;
    let mut at = 8;
    while at < rest.len() {
        let (Some(off), Some(n)) = (u64_at(rest, at), u64_at(rest, at + 8)) else {
            return Err(bad("sparse fixture: truncated run header"));
        };
        at += 16;
        let data = usize::try_from(n)
            .ok()
            .and_then(|n| rest.get(at..at.checked_add(n)?))
            .ok_or_else(|| bad("sparse fixture: truncated run"))?;
        if off.checked_add(n).is_none_or(|end| end > len) {
            return Err(bad("sparse fixture: a run past the file's length"));
        }
        file.write_all_at(data, off)?;
        at += data.len();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn decoded(sparse: &[u8]) -> std::io::Result<Vec<u8>> {
        // A directory per call: the tests run in parallel threads of one process.
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("tetra-sparse-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("f");
        let r = sparse_decode(sparse, &std::fs::File::create(&path)?).and_then(|()| {
            let mut v = Vec::new();
            std::fs::File::open(&path)?.read_to_end(&mut v)?;
            Ok(v)
        });
        let _ = std::fs::remove_dir_all(&dir);
        r
    }

    #[test]
    fn sparse_round_trips_and_leaves_zeros_out() {
        let mut bytes = vec![0u8; 5 * 4096 + 100];
        bytes[10] = 1;
        bytes[4096 * 2 + 5] = 2;
        bytes[4096 * 3] = 3;
        *bytes.last_mut().unwrap() = 4;
        let s = sparse_encode(&bytes, 4096);
        // Blocks 0, 2-3 and the short last one: three runs.
        assert_eq!(s.len(), 16 + 3 * 16 + 4096 + 2 * 4096 + 100);
        assert_eq!(decoded(&s).unwrap(), bytes);
        let zeros = vec![0u8; 3 << 20];
        assert_eq!(sparse_encode(&zeros, 4096).len(), 16);
        assert_eq!(decoded(&sparse_encode(&zeros, 4096)).unwrap(), zeros);
    }

    #[test]
    fn malformed_sparse_is_an_error() {
        let mut bytes = vec![0u8; 8192];
        bytes[5000] = 9;
        let s = sparse_encode(&bytes, 4096);
        for cut in [0, 4, 8, 12, 16, 20, 30, s.len() - 1] {
            let e = decoded(&s[..cut]).err();
            assert!(
                cut == 16 || e.is_some_and(|e| e.kind() == std::io::ErrorKind::InvalidData),
                "cut at {cut}"
            );
        }
        // A run that ends past the length (its offset moved to the end).
        let mut past = s.clone();
        past[16..24].copy_from_slice(&8192u64.to_le_bytes());
        assert!(decoded(&past).is_err());
        // An absurd run length.
        let mut huge = s;
        huge[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(decoded(&huge).is_err());
    }
}
