//! Printing a register table (`tetra regs`) and register values.

use super::desc::{RegDesc, RegLoc};
use super::state::{value_as_u128, VcpuState};
use super::table::RegTable;
use std::fmt::Write as _;

/// How the backend reaches `reg`, for people: `ONE_REG`, `KVM_GET_SREGS+0x1c8`, `KVM_GET_MSRS`.
pub fn access_of(table: &RegTable, reg: &RegDesc) -> String {
    match reg.loc {
        RegLoc::OneReg => "ONE_REG".to_string(),
        RegLoc::Field { block, offset, .. } => {
            let name = table.block(block).map_or("?", |b| first_ioctl(b.ioctls));
            format!("{name}+{offset:#x}")
        }
        RegLoc::Indexed { block } => table
            .block(block)
            .map_or("?", |b| first_ioctl(b.ioctls))
            .to_string(),
    }
}

fn first_ioctl(ioctls: &str) -> &str {
    ioctls.split('/').next().unwrap_or(ioctls)
}

/// One row of the table as strings: name, set, number, size, attributes, id, access.
fn row(table: &RegTable, r: &RegDesc) -> [String; 7] {
    let set = table
        .set_name(r.id.set())
        .map_or_else(|| format!("{:#x}", r.id.set()), str::to_string);
    [
        r.name.to_string(),
        set,
        format!("{:#x}", r.id.number()),
        r.id.size().name(),
        r.attrs.to_string(),
        r.id.to_string(),
        access_of(table, r),
    ]
}

const HEADER: [&str; 7] = [
    "NAME",
    "SET",
    "NUMBER",
    "SIZE",
    "ATTRS",
    "ONE_REG ID",
    "ACCESS",
];

/// The table as aligned text: name, set, number, size, attributes, ONE_REG id and how the
/// backend reaches it, one register per line, with a note on tetra-private ids.
pub fn table_text(table: &RegTable) -> String {
    let rows: Vec<[String; 7]> = table.iter().map(|r| row(table, r)).collect();
    let mut width = HEADER.map(str::len);
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut l = String::new();
        for (i, (c, w)) in cells.iter().zip(width).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<w$}  ");
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&HEADER);
    for r in &rows {
        line(&r.each_ref().map(String::as_str));
    }
    let private = table.iter().filter(|r| r.id.is_private()).count();
    let _ = writeln!(
        out,
        "# {}: {} registers; {} ids are tetra's own (served by the block ioctls), not kernel ONE_REG ids",
        table.name(),
        table.len(),
        private
    );
    out
}

/// The table as a JSON array of objects (`name`, `set`, `number`, `size`, `bytes`, `attrs`,
/// `id`, `access`, `private`); numbers and ids as hex strings.
pub fn table_json(table: &RegTable) -> String {
    use crate::json::{json, Value};
    let rows: Vec<Value> = table
        .iter()
        .map(|r| {
            let [name, set, number, size, attrs, id, access] = row(table, r);
            let attrs: Vec<&str> = attrs.split(',').collect();
            json!({
                "name": name,
                "set": set,
                "number": number,
                "size": size,
                "bytes": r.bytes(),
                "attrs": attrs,
                "id": id,
                "access": access,
                "private": r.id.is_private(),
            })
        })
        .collect();
    crate::json::pretty(&Value::Array(rows))
}

/// A value for people: an integer in hex (host byte order) up to 16 bytes, else its length and
/// its bytes in hex (the first 64).
pub fn value_text(bytes: &[u8]) -> String {
    if let Some(v) = value_as_u128(bytes) {
        return format!("{v:#0w$x}", w = bytes.len() * 2 + 2);
    }
    let mut s = format!("<{} bytes>", bytes.len());
    for (i, b) in bytes.iter().take(64).enumerate() {
        if i % 16 == 0 {
            s.push(' ');
        }
        let _ = write!(s, "{b:02x}");
    }
    if bytes.len() > 64 {
        s.push_str(" ...");
    }
    s
}

/// A state as `name = value` lines, names from `table` (unknown ids by number).
pub fn state_text(table: &RegTable, state: &VcpuState) -> String {
    let mut out = String::new();
    for e in state {
        let name = table
            .get(e.id)
            .map_or_else(|| e.id.to_string(), |r| r.name.to_string());
        let _ = writeln!(out, "{name} = {}", value_text(&e.bytes));
    }
    out
}
