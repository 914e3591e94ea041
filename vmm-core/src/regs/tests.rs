//! Unit tests of the generic register logic against an in-memory backend.
//!
//! `MemVcpu` is a test double for the *logic* only (grouping per block, read-modify-write,
//! refusals, optional registers, ordering); it is not KVM and proves nothing about a real
//! backend. The real-KVM round trips live with the backends.

use super::*;
use crate::hypervisor::HvError;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

const REGS: u8 = 0;
const SREGS: u8 = 1;
const MSRS: u8 = 2;

static SETS: &[RegSetInfo] = &[
    RegSetInfo {
        id: 0,
        name: "one_reg",
    },
    RegSetInfo {
        id: PRIVATE_SET,
        name: "regs",
    },
    RegSetInfo {
        id: PRIVATE_SET | 1,
        name: "sregs",
    },
    RegSetInfo { id: 2, name: "msr" },
];

// Restore order: sregs first, then regs, then MSRs, then ONE_REG.
static BLOCKS: &[RegBlock] = &[
    RegBlock {
        id: SREGS,
        name: "sregs",
        ioctls: "GET_SREGS/SET_SREGS",
        kind: BlockKind::Struct {
            c_type: "struct s",
            size: 24,
        },
    },
    RegBlock {
        id: REGS,
        name: "regs",
        ioctls: "GET_REGS/SET_REGS",
        kind: BlockKind::Struct {
            c_type: "struct r",
            size: 32,
        },
    },
    RegBlock {
        id: MSRS,
        name: "msrs",
        ioctls: "GET_MSRS/SET_MSRS",
        kind: BlockKind::Indexed,
    },
];

fn pid(set: u16, n: u32, size: RegSize) -> RegId {
    RegId::new(RegArch::Ppc, set, n, size)
}

fn table() -> RegTable {
    let mut t = RegTable::new("test", RegArch::Ppc, SETS, BLOCKS);
    for i in 0..4u32 {
        t.push(RegDesc::field(
            format!("r{i}"),
            pid(PRIVATE_SET, i, RegSize::U64),
            RegAttrs::RW,
            (REGS, 8 * i as usize, 8),
            format!("r[{i}]"),
        ))
        .unwrap();
    }
    t.push(RegDesc::field(
        "feat",
        pid(PRIVATE_SET | 1, 0, RegSize::U32),
        RegAttrs::RO,
        (SREGS, 0, 4),
        "feat",
    ))
    .unwrap();
    t.push(RegDesc::field(
        "opt_field",
        pid(PRIVATE_SET | 1, 1, RegSize::U32),
        RegAttrs::RW,
        (SREGS, 4, 4),
        "opt",
    ))
    .unwrap();
    t.push(RegDesc::field(
        "seg",
        pid(PRIVATE_SET | 1, 2, RegSize::U128),
        RegAttrs::RW,
        (SREGS, 8, 12),
        "seg",
    ))
    .unwrap();
    for (name, idx, attrs) in [
        ("m_a", 0x10, RegAttrs::RW),
        ("m_b", 0x20, RegAttrs::RW | RegAttrs::OPTIONAL),
        ("m_c", 0x30, RegAttrs::RW),
    ] {
        t.push(RegDesc::indexed(
            name,
            pid(2, idx, RegSize::U64),
            attrs,
            MSRS,
        ))
        .unwrap();
    }
    for (name, n, size, attrs) in [
        ("one_a", 1, RegSize::U64, RegAttrs::RW),
        ("one_b", 2, RegSize::U32, RegAttrs::RO),
        ("one_c", 3, RegSize::U64, RegAttrs::RW | RegAttrs::OPTIONAL),
        ("one_w", 4, RegSize::U32, RegAttrs::WO),
        ("one_alias", 5, RegSize::U64, RegAttrs::RW | RegAttrs::ALIAS),
    ] {
        t.push(RegDesc::one_reg(name, pid(0, n, size), attrs, ""))
            .unwrap();
    }
    t
}

/// In-memory registers; records every call.
#[derive(Default)]
struct MemVcpu {
    one: RefCell<HashMap<RegId, Vec<u8>>>,
    blocks: RefCell<HashMap<u8, Vec<u8>>>,
    msrs: RefCell<BTreeMap<u32, u64>>,
    log: RefCell<Vec<String>>,
    written: RefCell<Vec<String>>,
}

impl MemVcpu {
    /// A vCPU whose every byte derives from `seed`; `with_c`: it has `one_c` and MSR 0x20.
    fn new(seed: u8, with_c: bool) -> Self {
        let v = MemVcpu::default();
        let fill = |n: usize, k: u8| (0..n).map(|i| seed ^ k ^ i as u8).collect::<Vec<u8>>();
        v.blocks.borrow_mut().insert(REGS, fill(32, 0x11));
        let mut s = fill(24, 0x22);
        s[0] = u8::from(with_c); // feat bit 0: opt_field present
        s[20..24].copy_from_slice(&[0xee; 4]); // bytes outside any field
        v.blocks.borrow_mut().insert(SREGS, s);
        let mut one = v.one.borrow_mut();
        one.insert(pid(0, 1, RegSize::U64), fill(8, 1));
        one.insert(pid(0, 2, RegSize::U32), fill(4, 2));
        one.insert(pid(0, 4, RegSize::U32), vec![0; 4]);
        one.insert(pid(0, 5, RegSize::U64), fill(8, 5));
        if with_c {
            one.insert(pid(0, 3, RegSize::U64), fill(8, 3));
        }
        drop(one);
        let mut m = v.msrs.borrow_mut();
        m.insert(0x10, u64::from(seed) * 3);
        m.insert(0x30, u64::from(seed) * 7);
        if with_c {
            m.insert(0x20, u64::from(seed) * 5);
        }
        drop(m);
        v
    }

    fn log(&self) -> Vec<String> {
        self.log.borrow().clone()
    }
}

fn einval(op: &'static str) -> HvError {
    HvError::Ioctl {
        op,
        source: std::io::Error::from_raw_os_error(libc::EINVAL),
    }
}

impl VcpuRegs for MemVcpu {
    fn get_one_reg(&self, id: RegId, buf: &mut [u8]) -> Result<(), HvError> {
        self.log
            .borrow_mut()
            .push(format!("get_one {:#x}", id.number()));
        let one = self.one.borrow();
        let v = one.get(&id).ok_or_else(|| einval("GET_ONE_REG"))?;
        if id == pid(0, 4, RegSize::U32) {
            return Err(einval("GET_ONE_REG")); // write-only
        }
        buf.copy_from_slice(v);
        Ok(())
    }

    fn set_one_reg(&self, id: RegId, buf: &[u8]) -> Result<(), HvError> {
        self.log
            .borrow_mut()
            .push(format!("set_one {:#x}", id.number()));
        let mut one = self.one.borrow_mut();
        let v = one.get_mut(&id).ok_or_else(|| einval("SET_ONE_REG"))?;
        v.copy_from_slice(buf);
        Ok(())
    }

    fn read_block(&self, block: &RegBlock, buf: &mut [u8]) -> Result<(), HvError> {
        self.log.borrow_mut().push(format!("read {}", block.name));
        buf.copy_from_slice(&self.blocks.borrow()[&block.id]);
        Ok(())
    }

    fn write_block(
        &self,
        block: &RegBlock,
        buf: &[u8],
        written: &[&RegDesc],
    ) -> Result<(), HvError> {
        self.log.borrow_mut().push(format!("write {}", block.name));
        self.written
            .borrow_mut()
            .extend(written.iter().map(|r| r.name.to_string()));
        self.blocks
            .borrow_mut()
            .get_mut(&block.id)
            .unwrap()
            .copy_from_slice(buf);
        Ok(())
    }

    fn read_indexed(
        &self,
        block: &RegBlock,
        indices: &[u32],
        values: &mut [u64],
    ) -> Result<usize, HvError> {
        self.log
            .borrow_mut()
            .push(format!("read {} {}", block.name, indices.len()));
        let m = self.msrs.borrow();
        for (k, i) in indices.iter().enumerate() {
            match m.get(i) {
                Some(&v) => values[k] = v,
                None => return Ok(k),
            }
        }
        Ok(indices.len())
    }

    fn write_indexed(
        &self,
        block: &RegBlock,
        indices: &[u32],
        values: &[u64],
    ) -> Result<usize, HvError> {
        self.log
            .borrow_mut()
            .push(format!("write {} {}", block.name, indices.len()));
        let mut m = self.msrs.borrow_mut();
        for (k, i) in indices.iter().enumerate() {
            match m.get_mut(i) {
                Some(v) => *v = values[k],
                None => return Ok(k),
            }
        }
        Ok(indices.len())
    }

    fn field_present(&self, _block: &RegBlock, data: &[u8], reg: &RegDesc) -> bool {
        reg.name != "opt_field" || data[0] & 1 != 0
    }
}

fn id_of(t: &RegTable, name: &str) -> RegId {
    t.by_name(name).unwrap().id
}

#[test]
fn save_batches_one_call_per_block() {
    let t = table();
    let v = MemVcpu::new(1, true);
    let out = save(&t, &v).unwrap();
    assert!(out.absent.is_empty());
    // Saved: r0..r3, opt_field, seg, m_a, m_b, m_c, one_a, one_c (not ro, wo or alias).
    let names: Vec<String> = out
        .state
        .iter()
        .map(|e| t.get(e.id).unwrap().name.to_string())
        .collect();
    assert_eq!(
        names,
        [
            "r0",
            "r1",
            "r2",
            "r3",
            "opt_field",
            "seg",
            "m_a",
            "m_b",
            "m_c",
            "one_a",
            "one_c"
        ]
    );
    assert_eq!(
        v.log(),
        [
            "read sregs",
            "read regs",
            "read msrs 3",
            "get_one 0x1",
            "get_one 0x3"
        ]
    );
    // A Field value is its bytes followed by zero padding up to the id's size.
    let seg = out.state.get(id_of(&t, "seg")).unwrap();
    assert_eq!(seg.len(), 16);
    assert_eq!(&seg[..12], &v.blocks.borrow()[&SREGS][8..20]);
    assert_eq!(&seg[12..], &[0; 4]);
    let m_c = out.state.get(id_of(&t, "m_c")).unwrap();
    assert_eq!(m_c, 7u64.to_ne_bytes());
}

#[test]
fn save_restore_save_round_trip() {
    let t = table();
    let src = MemVcpu::new(1, true);
    let dst = MemVcpu::new(0x80, true);
    let saved = save(&t, &src).unwrap().state;
    assert_ne!(save(&t, &dst).unwrap().state, saved);
    restore(&t, &dst, &saved).unwrap();
    assert_eq!(save(&t, &dst).unwrap().state, saved);
    // Blocks in table order, one read-modify-write each, then ONE_REG in state order.
    let log = dst.log();
    let restore_log: Vec<&str> = log
        .iter()
        .map(String::as_str)
        .skip_while(|l| *l != "get_one 0x3")
        .skip(1)
        .take(8)
        .collect();
    assert_eq!(
        restore_log,
        [
            "read sregs",
            "write sregs",
            "read regs",
            "write regs",
            "write msrs 3",
            "set_one 0x1",
            "set_one 0x3",
            "read sregs"
        ]
    );
    assert_eq!(
        *dst.written.borrow(),
        ["opt_field", "seg", "r0", "r1", "r2", "r3"]
    );
    // Bytes of a block outside every written field are kept (read-modify-write).
    assert_eq!(&dst.blocks.borrow()[&SREGS][20..24], &[0xee; 4]);
    // The read-only feat word of the destination is untouched.
    assert_eq!(dst.blocks.borrow()[&SREGS][0], 1);
}

#[test]
fn optional_registers_are_skipped_and_reported() {
    let t = table();
    let v = MemVcpu::new(3, false); // no one_c, no MSR 0x20, opt_field not present
    let out = save(&t, &v).unwrap();
    let absent: Vec<&str> = out
        .absent
        .iter()
        .map(|id| t.get(*id).unwrap().name.as_ref())
        .collect();
    assert_eq!(absent, ["opt_field", "m_b", "one_c"]);
    assert!(out.state.get(id_of(&t, "m_c")).is_some());
    // KVM_GET_MSRS-style partial read: retried after the optional failure.
    assert!(v.log().contains(&"read msrs 3".to_string()));
    assert!(v.log().contains(&"read msrs 1".to_string()));
    // Writing a field the vCPU does not have is refused.
    let mut s = VcpuState::new();
    s.push(id_of(&t, "opt_field"), vec![1, 2, 3, 4]);
    let e = write(&t, &v, &s).unwrap_err();
    assert!(
        matches!(e, RegError::Absent { ref name, .. } if name == "opt_field"),
        "{e}"
    );
}

#[test]
fn non_optional_failures_name_the_register() {
    let t = table();
    let v = MemVcpu::new(3, true);
    v.msrs.borrow_mut().remove(&0x30);
    let e = save(&t, &v).unwrap_err();
    assert!(e.to_string().contains("m_c (index 0x30)"), "{e}");
    let v = MemVcpu::new(3, true);
    v.one.borrow_mut().remove(&pid(0, 1, RegSize::U64));
    let e = save(&t, &v).unwrap_err();
    assert_eq!(e.to_string(), "reading one_a");
    assert!(std::error::Error::source(&e).is_some());
}

#[test]
fn restore_refuses_bad_states_before_writing_anything() {
    let t = table();
    let v = MemVcpu::new(1, true);
    let good = save(&t, &v).unwrap().state;
    let cases: Vec<(VcpuState, &str)> = vec![
        (
            {
                let mut s = good.clone();
                s.push(pid(0, 0x77, RegSize::U64), vec![0; 8]);
                s
            },
            "register id 0x1030000000000077 is not in the test register table",
        ),
        (
            {
                let mut s = good.clone();
                s.push(id_of(&t, "one_b"), vec![0; 4]);
                s
            },
            "register one_b (0x1020000000000002) is read-only and cannot be written",
        ),
        (
            {
                let mut s = good.clone();
                s.push(id_of(&t, "feat"), vec![0; 4]);
                s
            },
            "register feat (0x1020800100000000) is read-only and cannot be written",
        ),
        (
            {
                let mut s = VcpuState::new();
                s.push(id_of(&t, "r1"), vec![0; 7]);
                s
            },
            "register r1 (0x1030800000000001) takes 8 bytes, the value has 7",
        ),
        (
            {
                let mut s = VcpuState::new();
                let mut seg = vec![0; 16];
                seg[13] = 1;
                s.push(id_of(&t, "seg"), seg);
                s
            },
            "register seg (0x1040800100000002): bytes 12.. of the value must be zero",
        ),
        (
            {
                let mut s = good.clone();
                s.push(id_of(&t, "r0"), vec![0; 8]);
                s
            },
            "register r0 (0x1030800000000000) appears twice",
        ),
    ];
    for (state, msg) in cases {
        let before = v.log().len();
        let e = restore(&t, &v, &state).unwrap_err();
        assert_eq!(e.to_string(), msg);
        assert_eq!(v.log().len(), before, "nothing may be touched: {msg}");
    }
}

#[test]
fn reads_of_write_only_and_unknown_are_refused() {
    let t = table();
    let v = MemVcpu::new(1, true);
    let e = read(&t, &v, &[id_of(&t, "one_w")]).unwrap_err();
    assert!(matches!(e, RegError::WriteOnly { .. }), "{e}");
    let e = read(&t, &v, &[pid(0, 0x99, RegSize::U64)]).unwrap_err();
    assert!(matches!(e, RegError::UnknownId { .. }), "{e}");
    // ... but a write-only register can be written, and read_all includes ro and alias ones.
    set_by_name(&t, &v, "one_w", &[1, 0, 0, 0]).unwrap();
    let all = read_all(&t, &v).unwrap();
    assert!(all.state.get(id_of(&t, "one_b")).is_some());
    assert!(all.state.get(id_of(&t, "one_alias")).is_some());
    assert!(all.state.get(id_of(&t, "feat")).is_some());
}

#[test]
fn by_name_access() {
    let t = table();
    let v = MemVcpu::new(1, true);
    set_by_name(&t, &v, "r2", &0x1234u64.to_ne_bytes()).unwrap();
    assert_eq!(get_by_name(&t, &v, "r2").unwrap(), 0x1234u64.to_ne_bytes());
    assert_eq!(&v.blocks.borrow()[&REGS][16..24], 0x1234u64.to_ne_bytes());
    let e = get_by_name(&t, &v, "nope").unwrap_err();
    assert_eq!(
        e.to_string(),
        "no register named \"nope\" in the test register table"
    );
    // An optional register the vCPU lacks reads as absent.
    let v = MemVcpu::new(1, false);
    assert!(matches!(
        get_by_name(&t, &v, "one_c"),
        Err(RegError::Absent { .. })
    ));
}

#[test]
fn backend_count_larger_than_asked_is_an_error() {
    struct Liar;
    impl VcpuRegs for Liar {
        fn read_indexed(&self, _: &RegBlock, i: &[u32], _: &mut [u64]) -> Result<usize, HvError> {
            Ok(i.len() + 1)
        }
    }
    let t = table();
    let e = read(&t, &Liar, &[id_of(&t, "m_a")]).unwrap_err();
    assert!(matches!(e, RegError::BadCount { .. }), "{e}");
    // The default trait methods report what is missing.
    let e = read(&t, &Liar, &[id_of(&t, "r0")]).unwrap_err();
    assert_eq!(e.to_string(), "reading GET_REGS/SET_REGS");
}

#[test]
fn table_text_and_json() {
    let t = table();
    let text = format::table_text(&t);
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("NAME"), "{header}");
    for col in ["SET", "NUMBER", "SIZE", "ATTRS", "ONE_REG ID", "ACCESS"] {
        assert!(header.contains(col), "{col}");
    }
    let seg = text.lines().find(|l| l.starts_with("seg ")).unwrap();
    let cells: Vec<&str> = seg.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "seg",
            "sregs",
            "0x2",
            "U128",
            "rw",
            "0x1040800100000002",
            "GET_SREGS+0x8"
        ]
    );
    let m_b = text.lines().find(|l| l.starts_with("m_b ")).unwrap();
    assert!(
        m_b.contains("rw,optional") && m_b.ends_with("GET_MSRS"),
        "{m_b}"
    );
    assert!(text.trim_end().ends_with("not kernel ONE_REG ids"));
    assert_eq!(text.lines().count(), t.len() + 2);

    let json = format::table_json(&t);
    let rows: serde_json::Value = serde_json::from_str(&json).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), t.len());
    assert_eq!(rows[0]["name"], "r0");
    assert_eq!(rows[0]["set"], "regs");
    assert!(rows
        .iter()
        .any(|r| r["attrs"] == serde_json::json!(["rw", "optional"])));
    assert!(rows.iter().any(|r| r["id"] == "0x1030000000000001"
        && r["access"] == "ONE_REG"
        && r["private"] == false));
    // Fields in the documented order.
    let keys: Vec<&String> = rows[0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["name", "set", "number", "size", "bytes", "attrs", "id", "access", "private"]
    );
}

#[test]
fn value_and_state_text() {
    assert_eq!(format::value_text(&0x1234u32.to_ne_bytes()), "0x00001234");
    assert_eq!(format::value_text(&[0xff]), "0xff");
    let blob = format::value_text(&[0xab; 100]);
    assert!(blob.starts_with("<100 bytes> abab"));
    assert!(blob.ends_with(" ..."));
    let t = table();
    let mut s = VcpuState::new();
    s.push(id_of(&t, "one_a"), 5u64.to_ne_bytes().to_vec());
    s.push(pid(0, 0x42, RegSize::U8), vec![9]);
    assert_eq!(
        format::state_text(&t, &s),
        "one_a = 0x0000000000000005\n0x1000000000000042 = 0x09\n"
    );
}

#[test]
fn table_facts_cover_blocks_fields_and_ids() {
    let mut t = table();
    t.push(RegDesc::one_reg(
        "named",
        pid(0, 0x8c, RegSize::U32),
        RegAttrs::RW,
        "KVM_REG_PPC_MAS0",
    ))
    .unwrap();
    let facts = abi::table_facts(&t);
    let has = |e: &str, v: u64| facts.iter().any(|f| f.expr == e && f.value == v);
    assert!(has("sizeof(struct s)", 24));
    assert!(has("sizeof(struct r)", 32));
    assert!(has("offsetof(struct r, r[3])", 24));
    assert!(has("sizeof(((struct r *)0)->r[3])", 8));
    assert!(has("offsetof(struct s, seg)", 8));
    assert!(has("sizeof(((struct s *)0)->seg)", 12));
    assert!(has("KVM_REG_PPC_MAS0", 0x1020_0000_0000_008c));
    // Registers without a uapi name give no fact.
    assert!(!facts.iter().any(|f| f.origin.contains("one_a")));
}

#[test]
fn registers_this_host_lacks_restore_only_at_their_reset_value() {
    // Saved where `one_a` exists, restored on a host whose table withdrew it.
    let full = table();
    let v = MemVcpu::new(1, true);
    let saved = save(&full, &v).unwrap().state;
    let one_a = id_of(&full, "one_a");
    let mut here = table();
    here.retain(|r| r.name != "one_a");
    assert!(here.get(one_a).is_none() && here.withdrawn(one_a).is_some());

    let mut zero = VcpuState::new();
    for e in &saved {
        let bytes = if e.id == one_a {
            vec![0; 8]
        } else {
            e.bytes.clone()
        };
        zero.push(e.id, bytes);
    }
    restore(&here, &v, &zero).unwrap();

    let mut set = VcpuState::new();
    for e in &saved {
        let bytes = if e.id == one_a {
            vec![1; 8]
        } else {
            e.bytes.clone()
        };
        set.push(e.id, bytes);
    }
    let before = v.log().len();
    let e = restore(&here, &v, &set).unwrap_err();
    assert!(matches!(e, RegError::NotOffered { .. }), "{e}");
    assert!(e.to_string().contains("one_a"), "{e}");
    assert_eq!(v.log().len(), before, "nothing may be written");
    // An id no table of the arch knows is still an error.
    let mut unknown = zero.clone();
    unknown.push(pid(0, 0x77, RegSize::U64), vec![0; 8]);
    assert!(matches!(
        restore(&here, &v, &unknown).unwrap_err(),
        RegError::UnknownId { .. }
    ));
    // In an open set, an id the host did not list is not offered either, not unknown.
    here.mark_open(0);
    restore(&here, &v, &unknown).unwrap();
    let mut listed_elsewhere = zero.clone();
    listed_elsewhere.push(pid(0, 0x77, RegSize::U64), vec![5; 8]);
    let e = restore(&here, &v, &listed_elsewhere).unwrap_err();
    assert!(matches!(e, RegError::NotOffered { .. }), "{e}");
}

#[test]
fn a_droppable_register_this_host_lacks_is_dropped_whatever_its_value() {
    // Saved on a host with `one_hv` (a KVM-HV-only SPR, say), restored on one without it.
    let hv = pid(0, 6, RegSize::U64);
    let mut full = table();
    full.push(RegDesc::one_reg(
        "one_hv",
        hv,
        RegAttrs::RW | RegAttrs::OPTIONAL | RegAttrs::DROPPABLE,
        "",
    ))
    .unwrap();
    let v = MemVcpu::new(1, true);
    let mut saved = save(&table(), &v).unwrap().state;
    saved.push(hv, vec![7; 8]);
    let mut here = full.clone();
    here.retain(|r| r.id != hv);
    assert!(here.not_offered(hv));
    let before = v.log().len();
    restore(&here, &v, &saved).unwrap();
    let log = v.log();
    assert!(!log[before..].iter().any(|l| l == "set_one 0x6"), "{log:?}");
    // Where the host offers it, it is written like any other register.
    v.one.borrow_mut().insert(hv, vec![0; 8]);
    restore(&full, &v, &saved).unwrap();
    assert_eq!(v.one.borrow()[&hv], vec![7; 8]);
    assert_eq!(
        RegAttrs::DROPPABLE.with(RegAttrs::RW).to_string(),
        "rw,droppable"
    );
}
