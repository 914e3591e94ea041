//! `tetra regs`: every arch's register table, printable on any host.

use vmm_core::regs::format::{table_json, table_text};
use vmm_core::regs::RegTable;

/// The arch names `--arch` accepts.
pub const ARCHES: [&str; 4] = ["x86_64", "arm64", "ppc64", "booke"];

/// The static register table of `arch` (one of [`ARCHES`]).
pub fn table(arch: &str) -> Option<&'static RegTable> {
    match arch {
        "x86_64" => Some(arch_x86_64::regs::table()),
        "arm64" => Some(arch_arm64::regs::table()),
        "ppc64" => Some(arch_ppc64::regs::table()),
        "booke" => Some(arch_booke::regs::table()),
        _ => None,
    }
}

/// The table of `arch` as text or JSON.
pub fn render(arch: &str, json: bool) -> Option<String> {
    let t = table(arch)?;
    Some(if json { table_json(t) } else { table_text(t) })
}
