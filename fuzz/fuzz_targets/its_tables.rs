//! The arm64 ITS tables as a restore reads them out of a snapshot's guest memory
//! (`arch_arm64::its_tables`): whatever the registers and the bytes say, the reader decodes or
//! refuses, never reads outside RAM, and what `check_tables` accepts keeps every rule it checks.
//!
//! Input: flags (bit 0: keep each `GITS_BASER` inside the 1 MiB of RAM), the vCPU count (u8),
//! eight `GITS_BASER` values (u64), then 12-byte writes into the 1 MiB of zeroed RAM: an offset
//! (u32, taken modulo RAM and 8-byte aligned) and an entry (u64), so that a short input can place
//! entries anywhere in the tables.
#![no_main]

use arch_arm64::its_tables::{
    check_tables, read_tables, FIRST_LPI, INTID_BITS, NOT_MAPPED, TABLE_PAGE,
};
use libfuzzer_sys::fuzz_target;
use tetra_fuzz::Cursor;
use vm_memory::{Bytes, GuestAddress};

const RAM: u64 = 0x4000_0000;
const RAM_LEN: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::new(data);
    let flags = c.u8();
    let vcpus = u32::from(c.u8()) + 1;
    let mut baser = [0u64; 8];
    for b in &mut baser {
        *b = c.u64();
        if flags & 1 != 0 {
            // 64 KiB-aligned in RAM's first 16 pages, one or two pages, 8-byte entries.
            let page = (*b >> 16) % 16;
            *b = (*b & 0xff00_0000_0000_0000)
                | (7 << 48)
                | (RAM + page * TABLE_PAGE)
                | ((*b >> 8) & 1);
        }
    }
    let mem = tetra_fuzz::memory(RAM, RAM_LEN);
    for w in c.rest().chunks_exact(12) {
        let off = (u64::from(u32::from_le_bytes([w[0], w[1], w[2], w[3]])) % RAM_LEN as u64) & !7;
        let raw = u64::from_le_bytes([w[4], w[5], w[6], w[7], w[8], w[9], w[10], w[11]]);
        mem.write_obj(raw.to_le(), GuestAddress(RAM + off))
            .expect("an aligned entry inside RAM");
    }
    let read = read_tables(&baser, &mem, vcpus);
    let Ok(t) = check_tables(&baser, &mem, vcpus) else {
        return;
    };
    assert!(read.is_ok_and(|r| r.problems.is_empty()));
    let end = RAM + RAM_LEN as u64;
    for (i, c) in t.collections.iter().enumerate() {
        assert!(c.target == NOT_MAPPED || c.target < vcpus);
        assert!(t.collections[..i].iter().all(|o| o.id != c.id));
    }
    let mut itts: Vec<(u64, u64)> = Vec::new();
    for d in &t.devices {
        let len = (1u64 << d.event_bits) * 8;
        assert!(d.itt >= RAM && d.itt + len <= end, "{d:x?}");
        assert!(itts.iter().all(|&(s, e)| d.itt >= e || d.itt + len <= s));
        itts.push((d.itt, d.itt + len));
        for e in &d.events {
            assert!((FIRST_LPI..1 << INTID_BITS).contains(&e.lpi));
            assert!(t.collections.iter().any(|c| c.id == e.collection));
        }
    }
});
