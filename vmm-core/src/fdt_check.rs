//! Test support for the arch crates' device trees: decompile a blob with the real `dtc` and pick
//! nodes out of its output. Only built with the `test-util` feature (the arch crates switch it on
//! for their tests); these helpers panic, as test helpers do.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Decompiles `blob` with the real `dtc` and returns its DTS text (printed too with
/// `TETRA_DUMP_DTS` set). A missing `dtc`, a failing `dtc` or any warning from it fails the
/// calling test: a device tree must not pass unchecked.
pub fn dtc(blob: &[u8]) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "tetra-fdt-{}-{}.dtb",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, blob).unwrap();
    let out = Command::new("dtc")
        .args(["-I", "dtb", "-O", "dts"])
        .arg(&path)
        .output();
    let _ = std::fs::remove_file(&path);
    let out = match out {
        Ok(o) => o,
        Err(e) => panic!(
            "this test needs `dtc` (Debian package device-tree-compiler) on PATH to check \
             the device tree, and it could not be run: {e}"
        ),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "dtc failed: {stderr}");
    assert!(
        !stderr.contains("Warning") && !stderr.contains("ERROR"),
        "dtc complained: {stderr}"
    );
    let dts = String::from_utf8(out.stdout).unwrap();
    if std::env::var_os("TETRA_DUMP_DTS").is_some() {
        eprintln!("{dts}");
    }
    dts
}

/// The body of node `name` in dtc's output, up to its closing brace at the same depth.
pub fn node<'a>(dts: &'a str, name: &str) -> &'a str {
    let start = dts
        .find(&format!("{name} {{"))
        .unwrap_or_else(|| panic!("no node {name} in:\n{dts}"));
    let mut depth = 0;
    for (i, c) in dts[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &dts[start..start + i];
                }
            }
            _ => {}
        }
    }
    panic!("unterminated node {name}");
}

#[cfg(test)]
mod tests {
    use super::node;

    #[test]
    fn node_stops_at_its_own_closing_brace() {
        let dts = "/ {\n a {\n  b {\n   x;\n  };\n  y;\n };\n c {\n };\n};\n";
        let a = node(dts, "a");
        assert!(
            a.contains("x;") && a.contains("y;") && !a.contains("c {"),
            "{a}"
        );
        assert_eq!(node(dts, "b").trim_end(), "b {\n   x;");
    }
}
