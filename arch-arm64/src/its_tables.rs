//! The ITS tables KVM writes into guest RAM (`KVM_DEV_ARM_ITS_SAVE_TABLES`, table ABI revision 0),
//! read back and checked before `KVM_DEV_ARM_ITS_RESTORE_TABLES` gets them.
//!
//! A snapshot's or a migration stream's guest memory is untrusted: KVM restores whatever the tables
//! say, so an entry that points outside guest RAM, into another table, at a vCPU the VM does not
//! have or at an LPI the vGIC cannot hold would be misapplied (or fail half-way through the
//! restore with a bare `EINVAL`). [`read_tables`] decodes every table the way KVM's restore scans
//! it and lists each problem with the table and entry it is in; [`check_tables`] refuses the first
//! one. `tetra inspect its` prints [`ItsTables::to_json`].
//!
//! # Layout (`Documentation/virt/kvm/devices/arm-vgic-its.rst`, "ITS Table ABI REV0")
//!
//! Every entry is 8 bytes, little-endian.
//!
//! ```text
//! device table entry (DTE), indexed by DeviceID:
//!   63 V | 62..49 next (DeviceID offset to the next DTE, 0: last) | 48..5 ITT address [51:8] |
//!   4..0 EventID bits - 1
//! collection table entry (CTE), not indexed: entries in no order, the first invalid one ends it:
//!   63 V | 62..52 RES0 | 51..16 RDbase (the target vCPU's number) | 15..0 ICID
//! interrupt translation entry (ITE), in the device's ITT, indexed by EventID:
//!   63..48 next (EventID offset, 0: last) | 47..16 pINTID (0: invalid) | 15..0 ICID
//! ```
//!
//! The tables' places come from the ITS registers: `GITS_BASER<n>` of type 1 (devices) and 4
//! (collections): bit 63 valid, bit 62 indirect (two levels: 8-byte level-1 entries, bit 63 valid,
//! bits 51..16 a 64 KiB page of DTEs), bits 58..56 type, 52..48 entry size - 1, 47..16 the address
//! (bits 15..12: address bits 51..48), 7..0 the number of 64 KiB pages - 1 (KVM's vITS only uses
//! 64 KiB pages).
//!
//! # Scan (as KVM's `scan_its_table`)
//!
//! A table is read from its first entry; an invalid entry moves on by one, a valid one by its
//! `next` field, and `next = 0` ends the table (for an indirect device table: that level-2 page).
//! Entries skipped this way are never read by KVM and are not checked here.
//!
//! # Checks
//!
//! - `GITS_BASER`: 8-byte entries, 64 KiB aligned, the whole table inside guest RAM, the device
//!   and collection tables apart;
//! - DTE: DeviceID below 2^16 ([`DEVICE_ID_BITS`]), at most 16 EventID bits, the ITT inside guest
//!   RAM and overlapping no other table, level-2 page or ITT;
//! - CTE: RES0 bits clear, the target an existing vCPU (or `0xffff_ffff`, a collection mapped to
//!   none), no collection listed twice;
//! - ITE: an LPI number from 8192 below 2^16 (the vGIC's 16 INTID bits), a collection the
//!   collection table holds.

use std::fmt;
use thiserror::Error;
use vm_memory::{Bytes, GuestAddress, GuestMemory, GuestMemoryError, Permissions};

/// The table layout ABI this module reads (`GITS_IIDR.Revision`).
pub const ABI_REVISION: u32 = 0;
/// Bytes of every table entry in ABI revision 0.
pub const ENTRY_BYTES: u64 = 8;
/// The page size of KVM's ITS tables (`GITS_BASER.Page_Size` is always 64 KiB there).
pub const TABLE_PAGE: u64 = 64 * 1024;
/// DeviceID bits of KVM's vITS (`GITS_TYPER.Devbits + 1`).
pub const DEVICE_ID_BITS: u32 = 16;
/// EventID bits of KVM's vITS (`GITS_TYPER.ID_bits + 1`).
pub const EVENT_ID_BITS: u32 = 16;
/// The first LPI INTID.
pub const FIRST_LPI: u32 = 8192;
/// INTID bits of KVM's vGICv3 (`GICD_TYPER.IDbits + 1`): LPIs are below 2^16.
pub const INTID_BITS: u32 = 16;
/// A collection's target when it is mapped to no vCPU (KVM's `COLLECTION_NOT_MAPPED`).
pub const NOT_MAPPED: u32 = u32::MAX;

/// `GITS_BASER.Type` of the device table.
pub const BASER_TYPE_DEVICE: u64 = 1;
/// `GITS_BASER.Type` of the collection table.
pub const BASER_TYPE_COLLECTION: u64 = 4;
const VALID: u64 = 1 << 63;
const BASER_INDIRECT: u64 = 1 << 62;
/// The most a level-1 table, a flat device table or a collection table can span (256 pages).
const MAX_TABLE_BYTES: u64 = 256 * TABLE_PAGE;
/// DTEs in one level-2 page.
const DTES_PER_PAGE: u64 = TABLE_PAGE / ENTRY_BYTES;

/// Which table an entry is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// The device table (flat, or a level-2 page of an indirect one).
    Device,
    /// The level-1 table of an indirect device table.
    DeviceLevel1,
    /// The collection table.
    Collection,
    /// The interrupt translation table of a device.
    Itt {
        /// The device's ID.
        device: u32,
    },
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Table::Device => f.write_str("device table"),
            Table::DeviceLevel1 => f.write_str("device table (level 1)"),
            Table::Collection => f.write_str("collection table"),
            Table::Itt { device } => write!(f, "ITT of device {device:#x}"),
        }
    }
}

/// Why ITS tables were refused.
#[derive(Debug, Error)]
pub enum ItsTableError {
    /// A `GITS_BASER` register that cannot describe a table KVM wrote.
    #[error("GITS_BASER{index} ({table}) = {value:#018x}: {why}")]
    Baser {
        /// The register's index (0 to 7).
        index: usize,
        /// The table it describes.
        table: Table,
        /// Its value.
        value: u64,
        /// What is wrong.
        why: String,
    },
    /// A table entry that KVM would misapply or refuse.
    #[error("ITS {table} entry {id:#x} at {addr:#x} ({raw:#018x}): {why}")]
    Entry {
        /// The table.
        table: Table,
        /// The entry's index: DeviceID, EventID, or (collection table) its position.
        id: u64,
        /// Its guest-physical address.
        addr: u64,
        /// Its raw value.
        raw: u64,
        /// What is wrong.
        why: String,
    },
    /// A table that cannot be read out of guest memory.
    #[error("cannot read the ITS {table} at {addr:#x}")]
    Read {
        /// The table.
        table: Table,
        /// Where.
        addr: u64,
        /// Why.
        #[source]
        source: GuestMemoryError,
    },
}

/// A valid device table entry and its ITT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceEntry {
    /// The DeviceID.
    pub id: u32,
    /// Where the entry is.
    pub addr: u64,
    /// Its raw value.
    pub raw: u64,
    /// The ITT's guest-physical address.
    pub itt: u64,
    /// EventID bits of the device (the ITT holds 2^bits entries).
    pub event_bits: u32,
    /// The ITT's valid entries.
    pub events: Vec<EventEntry>,
}

/// A valid interrupt translation entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventEntry {
    /// The EventID.
    pub event: u32,
    /// Where the entry is.
    pub addr: u64,
    /// Its raw value.
    pub raw: u64,
    /// The LPI it raises.
    pub lpi: u32,
    /// The collection it is delivered through.
    pub collection: u16,
}

/// A valid collection table entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CollectionEntry {
    /// The collection ID.
    pub id: u16,
    /// Where the entry is.
    pub addr: u64,
    /// Its raw value.
    pub raw: u64,
    /// The target vCPU's number, [`NOT_MAPPED`] for none.
    pub target: u32,
}

/// The ITS tables as KVM's restore would read them, with every problem found.
#[derive(Debug, Default)]
pub struct ItsTables {
    /// The valid device table entries, by DeviceID.
    pub devices: Vec<DeviceEntry>,
    /// The valid collection table entries, in table order.
    pub collections: Vec<CollectionEntry>,
    /// The problems, in the order the scan met them.
    pub problems: Vec<ItsTableError>,
}

/// One table's place, from its `GITS_BASER`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Baser {
    index: usize,
    table: Table,
    value: u64,
    base: u64,
    len: u64,
    indirect: bool,
}

/// What guest RAM holds where: the tables' own ranges, to find overlaps.
struct Claims {
    ranges: Vec<(u64, u64, Table, u64)>,
}

impl Claims {
    /// Records `[start, start + len)` for `owner` (entry `id`), or names what it overlaps.
    fn claim(&mut self, start: u64, len: u64, owner: Table, id: u64) -> Result<(), String> {
        let end = start.saturating_add(len);
        for &(s, e, t, i) in &self.ranges {
            if start < e && s < end {
                return Err(if t == Table::Device && i != u64::MAX {
                    format!(
                        "[{start:#x}, {end:#x}) overlaps the device table's level-2 page {i:#x}"
                    )
                } else {
                    format!("[{start:#x}, {end:#x}) overlaps the {t}")
                });
            }
        }
        self.ranges.push((start, end, owner, id));
        Ok(())
    }
}

/// Reads the two tables `baser` (the eight `GITS_BASER<n>` values) describes out of `mem`, for a
/// VM of `vcpus` vCPUs, the way KVM's restore scans them. Entry-level problems are collected in
/// [`ItsTables::problems`]; a register that cannot describe a table, or memory that cannot be
/// read, is an error.
pub fn read_tables<M: GuestMemory>(
    baser: &[u64; 8],
    mem: &M,
    vcpus: u32,
) -> Result<ItsTables, ItsTableError> {
    let mut tables = ItsTables::default();
    let mut claims = Claims { ranges: Vec::new() };
    let mut device = None;
    let mut collection = None;
    for (index, &value) in baser.iter().enumerate() {
        let kind = (value >> 56) & 0x7;
        let table = match kind {
            BASER_TYPE_DEVICE => Table::Device,
            BASER_TYPE_COLLECTION => Table::Collection,
            _ => continue,
        };
        if value & VALID == 0 {
            continue;
        }
        let b = parse_baser(index, table, value, mem)?;
        let slot = if table == Table::Device {
            &mut device
        } else {
            &mut collection
        };
        if slot.is_some() {
            return Err(baser_err(&b, "a second valid table of this type"));
        }
        let owner = if b.indirect {
            Table::DeviceLevel1
        } else {
            table
        };
        claims
            .claim(b.base, b.len, owner, u64::MAX)
            .map_err(|why| baser_err(&b, &why))?;
        *slot = Some(b);
    }
    if let Some(b) = collection {
        read_collections(&b, mem, vcpus, &mut tables)?;
    }
    if let Some(b) = device {
        read_devices(&b, mem, &mut claims, &mut tables)?;
    }
    Ok(tables)
}

/// [`read_tables`], refusing the first problem.
pub fn check_tables<M: GuestMemory>(
    baser: &[u64; 8],
    mem: &M,
    vcpus: u32,
) -> Result<ItsTables, ItsTableError> {
    let mut tables = read_tables(baser, mem, vcpus)?;
    if tables.problems.is_empty() {
        Ok(tables)
    } else {
        Err(tables.problems.swap_remove(0))
    }
}

fn baser_err(b: &Baser, why: &str) -> ItsTableError {
    ItsTableError::Baser {
        index: b.index,
        table: b.table,
        value: b.value,
        why: why.to_string(),
    }
}

fn parse_baser<M: GuestMemory>(
    index: usize,
    table: Table,
    value: u64,
    mem: &M,
) -> Result<Baser, ItsTableError> {
    let base = (value & 0x0000_ffff_ffff_0000) | ((value & 0xf000) << 36);
    let b = Baser {
        index,
        table,
        value,
        base,
        len: ((value & 0xff) + 1) * TABLE_PAGE,
        indirect: value & BASER_INDIRECT != 0,
    };
    let entry_bytes = ((value >> 48) & 0x1f) + 1;
    if entry_bytes != ENTRY_BYTES {
        return Err(baser_err(
            &b,
            &format!("{entry_bytes}-byte entries, where ABI revision 0 has 8"),
        ));
    }
    if b.indirect && table == Table::Collection {
        return Err(baser_err(
            &b,
            "an indirect collection table, which KVM never writes",
        ));
    }
    if !in_ram(mem, base, b.len) {
        return Err(baser_err(
            &b,
            &format!(
                "the table [{base:#x}, +{:#x}) is not inside guest RAM",
                b.len
            ),
        ));
    }
    Ok(b)
}

fn in_ram<M: GuestMemory>(mem: &M, addr: u64, len: u64) -> bool {
    usize::try_from(len)
        .is_ok_and(|len| mem.check_range(GuestAddress(addr), len, Permissions::Read))
}

/// Reads `len` bytes (at most [`MAX_TABLE_BYTES`], checked by the callers) as entries.
fn read_entries<M: GuestMemory>(
    mem: &M,
    table: Table,
    addr: u64,
    len: u64,
) -> Result<Vec<u64>, ItsTableError> {
    let mut bytes = vec![0u8; len as usize];
    mem.read_slice(&mut bytes, GuestAddress(addr))
        .map_err(|source| ItsTableError::Read {
            table,
            addr,
            source,
        })?;
    Ok(bytes
        .chunks_exact(ENTRY_BYTES as usize)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8-byte chunk")))
        .collect())
}

/// Walks `entries` as KVM's `scan_its_table`: `visit(index, raw)` returns the offset to the next
/// entry, 0 to stop.
fn scan(entries: &[u64], mut visit: impl FnMut(u64, u64) -> u64) {
    let mut i = 0u64;
    while let Some(&raw) = usize::try_from(i).ok().and_then(|i| entries.get(i)) {
        let next = visit(i, raw);
        if next == 0 {
            return;
        }
        i += next;
    }
}

fn problem(table: Table, id: u64, addr: u64, raw: u64, why: String) -> ItsTableError {
    ItsTableError::Entry {
        table,
        id,
        addr,
        raw,
        why,
    }
}

fn read_collections<M: GuestMemory>(
    b: &Baser,
    mem: &M,
    vcpus: u32,
    tables: &mut ItsTables,
) -> Result<(), ItsTableError> {
    let entries = read_entries(mem, Table::Collection, b.base, b.len.min(MAX_TABLE_BYTES))?;
    for (i, &raw) in entries.iter().enumerate() {
        if raw & VALID == 0 {
            break;
        }
        let addr = b.base + i as u64 * ENTRY_BYTES;
        let id = raw as u16;
        let target = (raw >> 16) as u32;
        let bad = |why: String| problem(Table::Collection, i as u64, addr, raw, why);
        if raw & 0x7fff_0000_0000_0000 != 0 {
            tables
                .problems
                .push(bad("reserved bits 62..48 are set".into()));
        } else if target != NOT_MAPPED && target >= vcpus {
            tables.problems.push(bad(format!(
                "collection {id:#x} targets vCPU {target}, where the VM has {vcpus}"
            )));
        } else if tables.collections.iter().any(|c| c.id == id) {
            tables
                .problems
                .push(bad(format!("collection {id:#x} is listed twice")));
        }
        tables.collections.push(CollectionEntry {
            id,
            addr,
            raw,
            target,
        });
    }
    Ok(())
}

fn read_devices<M: GuestMemory>(
    b: &Baser,
    mem: &M,
    claims: &mut Claims,
    tables: &mut ItsTables,
) -> Result<(), ItsTableError> {
    let top = b.len.min(MAX_TABLE_BYTES);
    if !b.indirect {
        let dtes = read_entries(mem, Table::Device, b.base, top)?;
        return read_dte_run(&dtes, b.base, 0, mem, claims, tables);
    }
    let l1 = read_entries(mem, Table::DeviceLevel1, b.base, top)?;
    for (i, &raw) in l1.iter().enumerate() {
        if raw & VALID == 0 {
            continue;
        }
        let addr = b.base + i as u64 * ENTRY_BYTES;
        let page = raw & 0x000f_ffff_ffff_0000;
        let bad = |why: String| problem(Table::DeviceLevel1, i as u64, addr, raw, why);
        if !in_ram(mem, page, TABLE_PAGE) {
            tables.problems.push(bad(format!(
                "its level-2 page {page:#x} is not inside guest RAM"
            )));
            continue;
        }
        if let Err(why) = claims.claim(page, TABLE_PAGE, Table::Device, i as u64) {
            tables.problems.push(bad(format!("its level-2 page {why}")));
            continue;
        }
        let dtes = read_entries(mem, Table::Device, page, TABLE_PAGE)?;
        read_dte_run(&dtes, page, i as u64 * DTES_PER_PAGE, mem, claims, tables)?;
    }
    Ok(())
}

/// Scans one run of DTEs (a flat table, or one level-2 page whose first DeviceID is `first_id`).
fn read_dte_run<M: GuestMemory>(
    dtes: &[u64],
    base: u64,
    first_id: u64,
    mem: &M,
    claims: &mut Claims,
    tables: &mut ItsTables,
) -> Result<(), ItsTableError> {
    let mut found = Vec::new();
    scan(dtes, |i, raw| {
        if raw & VALID == 0 {
            return 1;
        }
        let id = first_id + i;
        let addr = base + i * ENTRY_BYTES;
        let next = (raw >> 49) & 0x3fff;
        let event_bits = (raw & 0x1f) as u32 + 1;
        let itt = ((raw >> 5) & 0xfff_ffff_ffff) << 8;
        let bad = |why: String| problem(Table::Device, id, addr, raw, why);
        if id >= 1 << DEVICE_ID_BITS {
            tables.problems.push(bad(format!(
                "DeviceID {id:#x} is beyond the vITS's {DEVICE_ID_BITS} bits"
            )));
        } else if event_bits > EVENT_ID_BITS {
            tables.problems.push(bad(format!(
                "{event_bits} EventID bits, where the vITS has {EVENT_ID_BITS}"
            )));
        } else {
            let itt_len = (1u64 << event_bits) * ENTRY_BYTES;
            if !in_ram(mem, itt, itt_len) {
                tables.problems.push(bad(format!(
                    "its ITT [{itt:#x}, +{itt_len:#x}) is not inside guest RAM"
                )));
            } else if let Err(why) =
                claims.claim(itt, itt_len, Table::Itt { device: id as u32 }, id)
            {
                tables.problems.push(bad(format!("its ITT {why}")));
            } else {
                found.push((id as u32, addr, raw, itt, event_bits));
            }
        }
        next
    });
    for (id, addr, raw, itt, event_bits) in found {
        let table = Table::Itt { device: id };
        let ites = read_entries(mem, table, itt, (1u64 << event_bits) * ENTRY_BYTES)?;
        let mut events = Vec::new();
        scan(&ites, |e, raw| {
            let lpi = (raw >> 16) as u32;
            if lpi == 0 {
                return 1;
            }
            let eaddr = itt + e * ENTRY_BYTES;
            let collection = raw as u16;
            let bad = |why: String| problem(table, e, eaddr, raw, why);
            if !(FIRST_LPI..1 << INTID_BITS).contains(&lpi) {
                tables.problems.push(bad(format!(
                    "LPI {lpi} is outside {FIRST_LPI}..{}",
                    1u32 << INTID_BITS
                )));
            } else if !tables.collections.iter().any(|c| c.id == collection) {
                tables.problems.push(bad(format!(
                    "collection {collection:#x} is not in the collection table"
                )));
            }
            events.push(EventEntry {
                event: e as u32,
                addr: eaddr,
                raw,
                lpi,
                collection,
            });
            raw >> 48
        });
        tables.devices.push(DeviceEntry {
            id,
            addr,
            raw,
            itt,
            event_bits,
            events,
        });
    }
    Ok(())
}

impl ItsTables {
    /// The tables as JSON, for `tetra inspect its`: every valid entry with its address and raw
    /// value, and the problems found.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::{json, Value};
        let hex = |v: u64| format!("{v:#x}");
        let raw = |v: u64| format!("{v:#018x}");
        let collections: Vec<Value> = self
            .collections
            .iter()
            .map(|c| {
                json!({
                    "id": c.id,
                    "target_vcpu": (c.target != NOT_MAPPED).then_some(c.target),
                    "addr": hex(c.addr),
                    "raw": raw(c.raw),
                })
            })
            .collect();
        let devices: Vec<Value> = self
            .devices
            .iter()
            .map(|d| {
                let events: Vec<Value> = d
                    .events
                    .iter()
                    .map(|e| {
                        json!({
                            "event": e.event,
                            "lpi": e.lpi,
                            "collection": e.collection,
                            "addr": hex(e.addr),
                            "raw": raw(e.raw),
                        })
                    })
                    .collect();
                json!({
                    "id": d.id,
                    "addr": hex(d.addr),
                    "raw": raw(d.raw),
                    "itt": hex(d.itt),
                    "event_bits": d.event_bits,
                    "events": events,
                })
            })
            .collect();
        let problems: Vec<String> = self.problems.iter().map(|p| p.to_string()).collect();
        json!({
            "abi_revision": 0,
            "collections": collections,
            "devices": devices,
            "problems": problems,
        })
    }
}

#[cfg(test)]
mod tests;
