use super::*;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

const RAM: u64 = 0x4000_0000;
const RAM_LEN: usize = 4 << 20;
const DEV_TABLE: u64 = RAM + 0x10000;
const COLL_TABLE: u64 = RAM + 0x20000;
const ITT0: u64 = RAM + 0x30000;
const ITT5: u64 = RAM + 0x30100;
const VCPUS: u32 = 4;

fn baser(kind: u64, base: u64, pages: u64) -> u64 {
    VALID | (kind << 56) | (7 << 48) | base | (2 << 8) | (pages - 1)
}

fn dte(next: u64, itt: u64, event_bits: u64) -> u64 {
    VALID | (next << 49) | ((itt >> 8) << 5) | (event_bits - 1)
}

fn cte(target: u64, icid: u64) -> u64 {
    VALID | (target << 16) | icid
}

fn ite(next: u64, lpi: u64, icid: u64) -> u64 {
    (next << 48) | (lpi << 16) | icid
}

struct Rig {
    mem: GuestMemoryMmap<()>,
    baser: [u64; 8],
}

impl Rig {
    /// Two devices (0 and 5, linked by `next`), two ITEs each, two collections on vCPUs 1 and 3:
    /// the tables a guest that MAPDs two devices and MAPCs two collections leaves after
    /// `KVM_DEV_ARM_ITS_SAVE_TABLES`.
    fn new() -> Rig {
        let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(RAM), RAM_LEN)]).unwrap();
        let mut rig = Rig { mem, baser: [0; 8] };
        rig.baser[0] = baser(BASER_TYPE_DEVICE, DEV_TABLE, 1);
        rig.baser[1] = baser(BASER_TYPE_COLLECTION, COLL_TABLE, 1);
        rig.put(DEV_TABLE, dte(5, ITT0, 2));
        rig.put(DEV_TABLE + 5 * 8, dte(0, ITT5, 1));
        rig.put(COLL_TABLE, cte(1, 0));
        rig.put(COLL_TABLE + 8, cte(3, 7));
        rig.put(ITT0, ite(3, 8192, 0));
        rig.put(ITT0 + 3 * 8, ite(0, 8193, 7));
        rig.put(ITT5 + 8, ite(0, 9000, 7));
        rig
    }

    fn put(&self, addr: u64, raw: u64) {
        self.mem.write_obj(raw.to_le(), GuestAddress(addr)).unwrap();
    }

    fn check(&self) -> Result<ItsTables, ItsTableError> {
        check_tables(&self.baser, &self.mem, VCPUS)
    }

    fn refused(&self) -> String {
        self.check()
            .expect_err("the tables should be refused")
            .to_string()
    }
}

#[test]
fn saved_tables_decode() {
    let t = Rig::new().check().unwrap();
    assert_eq!(
        t.collections
            .iter()
            .map(|c| (c.id, c.target))
            .collect::<Vec<_>>(),
        [(0, 1), (7, 3)]
    );
    assert_eq!(t.devices.len(), 2);
    assert_eq!(
        (t.devices[0].id, t.devices[0].itt, t.devices[0].event_bits),
        (0, ITT0, 2)
    );
    assert_eq!(
        (t.devices[1].id, t.devices[1].itt, t.devices[1].event_bits),
        (5, ITT5, 1)
    );
    let events = |d: &DeviceEntry| {
        d.events
            .iter()
            .map(|e| (e.event, e.lpi, e.collection))
            .collect::<Vec<_>>()
    };
    assert_eq!(events(&t.devices[0]), [(0, 8192, 0), (3, 8193, 7)]);
    assert_eq!(events(&t.devices[1]), [(1, 9000, 7)]);
}

#[test]
fn no_valid_baser_is_no_tables() {
    let mut rig = Rig::new();
    rig.baser[0] &= !VALID;
    rig.baser[1] &= !VALID;
    let t = rig.check().unwrap();
    assert!(t.devices.is_empty() && t.collections.is_empty());
}

#[test]
fn entries_skipped_by_next_or_after_the_last_are_not_read() {
    let rig = Rig::new();
    // Between device 0 and device 5 (next = 5), and after device 5 (next = 0): garbage that
    // would be refused if it were read.
    rig.put(DEV_TABLE + 2 * 8, dte(0, RAM + 0x1_0000_0000, 17));
    rig.put(DEV_TABLE + 9 * 8, dte(0, RAM + 0x1_0000_0000, 17));
    // In device 0's ITT between events 0 and 3, and after event 3.
    rig.put(ITT0 + 8, ite(0, 5, 0xdead));
    assert_eq!(rig.check().unwrap().devices.len(), 2);
}

#[test]
fn an_invalid_entry_moves_on_by_one() {
    let rig = Rig::new();
    // Device 5 now says next = 0 only after an invalid DTE at 6; a valid one at 7 is still read,
    // as KVM reads it, because device 5's next field ended the scan: make device 5 point on.
    rig.put(DEV_TABLE + 5 * 8, dte(2, ITT5, 1));
    rig.put(DEV_TABLE + 7 * 8, dte(0, ITT5 + 0x100, 1));
    let t = rig.check().unwrap();
    assert_eq!(
        t.devices.iter().map(|d| d.id).collect::<Vec<_>>(),
        [0, 5, 7]
    );
}

#[test]
fn a_dte_whose_itt_is_outside_ram_is_named() {
    let rig = Rig::new();
    rig.put(DEV_TABLE + 5 * 8, dte(0, RAM + RAM_LEN as u64 - 0x100, 6));
    let e = rig.refused();
    assert!(
        e.starts_with("ITS device table entry 0x5 at 0x40010028"),
        "{e}"
    );
    assert!(e.contains("is not inside guest RAM"), "{e}");
}

#[test]
fn a_dte_whose_itt_overlaps_a_table_is_named() {
    let rig = Rig::new();
    rig.put(DEV_TABLE + 5 * 8, dte(0, COLL_TABLE + 0x100, 1));
    let e = rig.refused();
    assert!(e.contains("device table entry 0x5"), "{e}");
    assert!(e.contains("overlaps the collection table"), "{e}");
    rig.put(DEV_TABLE + 5 * 8, dte(0, DEV_TABLE, 1));
    assert!(rig.refused().contains("overlaps the device table"));
}

#[test]
fn two_itts_that_overlap_are_named() {
    let rig = Rig::new();
    rig.put(DEV_TABLE + 5 * 8, dte(0, ITT0 + 8, 1));
    let e = rig.refused();
    assert!(e.contains("device table entry 0x5"), "{e}");
    assert!(e.contains("overlaps the ITT of device 0x0"), "{e}");
}

#[test]
fn a_dte_with_too_many_event_bits_is_named() {
    let rig = Rig::new();
    rig.put(DEV_TABLE + 5 * 8, dte(0, ITT5, 17));
    let e = rig.refused();
    assert!(e.contains("17 EventID bits, where the vITS has 16"), "{e}");
}

#[test]
fn collection_problems_are_named() {
    let rig = Rig::new();
    rig.put(COLL_TABLE + 8, cte(4, 7));
    let e = rig.refused();
    assert!(
        e.starts_with("ITS collection table entry 0x1 at 0x40020008"),
        "{e}"
    );
    assert!(e.contains("targets vCPU 4, where the VM has 4"), "{e}");
    rig.put(COLL_TABLE + 8, cte(2, 0));
    assert!(rig.refused().contains("collection 0x0 is listed twice"));
    rig.put(COLL_TABLE + 8, cte(2, 7) | 1 << 60);
    assert!(rig.refused().contains("reserved bits"));
    // A collection mapped to no vCPU is what KVM saves for a MAPTI to an unmapped collection.
    rig.put(COLL_TABLE + 8, cte(u64::from(NOT_MAPPED), 7));
    assert_eq!(rig.check().unwrap().collections[1].target, NOT_MAPPED);
}

#[test]
fn the_collection_table_ends_at_its_first_invalid_entry() {
    let rig = Rig::new();
    rig.put(COLL_TABLE + 3 * 8, cte(99, 1));
    assert_eq!(rig.check().unwrap().collections.len(), 2);
}

#[test]
fn ite_problems_are_named() {
    let rig = Rig::new();
    rig.put(ITT0 + 3 * 8, ite(0, 8191, 7));
    let e = rig.refused();
    assert!(
        e.starts_with("ITS ITT of device 0x0 entry 0x3 at 0x40030018"),
        "{e}"
    );
    assert!(e.contains("LPI 8191 is outside 8192..65536"), "{e}");
    rig.put(ITT0 + 3 * 8, ite(0, 65536, 7));
    assert!(rig.refused().contains("LPI 65536"));
    rig.put(ITT0 + 3 * 8, ite(0, 8200, 9));
    assert!(rig
        .refused()
        .contains("collection 0x9 is not in the collection table"));
}

#[test]
fn baser_problems_are_named() {
    let mut rig = Rig::new();
    rig.baser[0] = baser(BASER_TYPE_DEVICE, DEV_TABLE, 1) & !(0x1f << 48) | (15 << 48);
    let e = rig.refused();
    assert!(e.starts_with("GITS_BASER0 (device table)"), "{e}");
    assert!(e.contains("16-byte entries"), "{e}");
    rig.baser[0] = baser(BASER_TYPE_DEVICE, RAM + RAM_LEN as u64 - 0x10000, 2);
    assert!(rig.refused().contains("is not inside guest RAM"));
    rig.baser[0] = baser(BASER_TYPE_DEVICE, COLL_TABLE, 1);
    let e = rig.refused();
    assert!(
        e.starts_with("GITS_BASER1 (collection table)") && e.contains("overlaps the device table"),
        "{e}"
    );
    rig.baser[0] = baser(BASER_TYPE_DEVICE, DEV_TABLE, 1);
    rig.baser[2] = baser(BASER_TYPE_DEVICE, RAM + 0x100000, 1);
    assert!(rig.refused().contains("a second valid table"));
    rig.baser[2] = 0;
    rig.baser[1] |= BASER_INDIRECT;
    assert!(rig.refused().contains("indirect collection table"));
}

#[test]
fn an_indirect_device_table_is_read_by_pages() {
    let mut rig = Rig::new();
    let l2 = RAM + 0x100000;
    rig.baser[0] = baser(BASER_TYPE_DEVICE, DEV_TABLE, 1) | BASER_INDIRECT;
    rig.put(DEV_TABLE, 0);
    rig.put(DEV_TABLE + 5 * 8, 0);
    // Level-1 entry 1: DeviceIDs 8192..16383.
    rig.put(DEV_TABLE + 8, VALID | l2);
    rig.put(l2 + 2 * 8, dte(0, ITT5, 1));
    let t = rig.check().unwrap();
    assert_eq!(t.devices.iter().map(|d| d.id).collect::<Vec<_>>(), [8194]);
    // Level-1 entry 8 starts at DeviceID 65536, beyond the vITS's 16 bits.
    rig.put(DEV_TABLE + 8 * 8, VALID | (l2 + 0x10000));
    rig.put(l2 + 0x10000, dte(0, ITT0, 1));
    assert!(rig.refused().contains("DeviceID 0x10000 is beyond"));
    rig.put(DEV_TABLE + 8 * 8, VALID | (RAM + 0x1_0000_0000));
    let e = rig.refused();
    assert!(e.starts_with("ITS device table (level 1) entry 0x8"), "{e}");
    rig.put(DEV_TABLE + 8 * 8, VALID | COLL_TABLE);
    assert!(rig.refused().contains("overlaps the collection table"));
}

#[test]
fn inspect_json_lists_entries_and_problems() {
    let rig = Rig::new();
    rig.put(COLL_TABLE + 8, cte(9, 7));
    let t = read_tables(&rig.baser, &rig.mem, VCPUS).unwrap();
    let json = t.to_json();
    let colls = json["collections"].as_array().unwrap();
    assert!(
        colls.iter().any(|c| c["id"] == 7 && c["target_vcpu"] == 9),
        "{json}"
    );
    let events = json["devices"][0]["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == 3 && e["lpi"] == 8193 && e["collection"] == 7),
        "{json}"
    );
    assert!(
        json["problems"][0]
            .as_str()
            .unwrap()
            .contains("targets vCPU 9, where the VM has 4"),
        "{json}"
    );
    assert_eq!(t.problems.len(), 1);
}

/// Random table contents never panic, loop or read outside RAM: each is decoded or refused.
#[test]
fn random_tables_are_decoded_or_refused() {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..300 {
        let mut rig = Rig::new();
        for _ in 0..64 {
            let slot = next() % 64;
            let table = [DEV_TABLE, COLL_TABLE, ITT0][(next() % 3) as usize];
            let mut v = next();
            if round % 2 == 0 {
                // Keep addresses near the tables so some entries are accepted.
                v = (v & !0x0000_ffff_ffff_ff00) | ((RAM + (next() % 0x40) * 0x100) >> 8 << 5);
            }
            rig.put(table + slot * 8, v);
        }
        if round % 5 == 0 {
            rig.baser[(next() % 8) as usize] = next();
        }
        let _ = read_tables(&rig.baser, &rig.mem, VCPUS);
        let _ = rig.check();
    }
}
