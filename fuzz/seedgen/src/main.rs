//! Writes small seed inputs for every fuzz target into `DIR/<target>/`, made with tetra's own
//! encoders, each with the option bytes its target reads first (see `fuzz_targets/*.rs`).
//! Real files (the snapshot fixture, the test guests, a bzImage, captured streams) are added at
//! run time by `scripts/fuzz`.

use arch_booke::abi::kvm_book3e_206_tlb_entry;
use arch_booke::boot::uimage;
use arch_booke::irqchip::{Mpic, MpicModel};
use arch_booke::mmu::{ByteOrder, Mapping, MmuType, Perms, SharedTlb, TlbGeometry, TlbStore};
use arch_x86_64::snapshot as x86;
use std::path::Path;
use vmm_core::config::{DiskConfig, VirtioConfig, VmConfig};
use vmm_core::elf::build::{note, ElfBuilder};
use vmm_core::elf::{ByteOrder as ElfOrder, Class};
use vmm_core::migration::channel::Channel;
use vmm_core::migration::frame::{self, Kind};
use vmm_core::regs::{RegId, VcpuState};
use vmm_core::snapshot::digest::MemDigests;
use vmm_core::snapshot::memfile::RegionLayout;
use vmm_core::snapshot::sections::{self, MemIntegrity, MemsInfo};
use vmm_core::snapshot::{Envelope, Section};
use vmm_core::wire::Writer;

fn put(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join(name), bytes).unwrap();
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn regs() -> VcpuState {
    let t = arch_x86_64::regs::table();
    let mut s = VcpuState::new();
    for name in ["rip", "rax", "cr0", "efer"] {
        if let Some(r) = t.by_name(name) {
            s.push(r.id, vec![0x11; r.id.bytes()]);
        }
    }
    s.push(RegId::from_raw(0x6030_0000_0010_0001), vec![0; 8]);
    s
}

fn tlb() -> (MmuType, arch_booke::mmu::TlbArray) {
    let mut t = SharedTlb::new(TlbGeometry::new(8, 2, 4).unwrap(), MmuType::NoHv);
    for i in 0..2u64 {
        let e = kvm_book3e_206_tlb_entry::from_mapping(&Mapping {
            ea: 0xc000_0000 + (i << 24),
            ra: i << 24,
            tsize: 14,
            tid: i as u32,
            ts: false,
            iprot: i == 0,
            attrs: 0x4,
            perms: Perms::ALL,
        });
        t.write(8 + i as usize, e).unwrap();
        t.write(i as usize * 2, e).unwrap();
    }
    (MmuType::NoHv, t.export())
}

fn section_seed(selector: u8, s: &Section) -> Vec<u8> {
    cat(&[&[selector], &s.version.to_le_bytes(), &s.data])
}

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: tetra-fuzz-seedgen DIR");
        std::process::exit(2);
    };
    generated(Path::new(&dir));
}

/// A framed migration stream (mode byte 0), as a protocol-3 source sends it (through tetra's own
/// channel: numbered frames, END's summary): HELLO with `conf`, one PAGES frame with `page` at
/// 0x1000 and two zero pages at 0x3000, ROUND 0, STATE `state`, END.
fn stream(conf: &Section, page: &[u8], state: &[u8]) -> Vec<u8> {
    let hello = {
        let mut w = Writer::new();
        w.bytes(frame::MAGIC);
        w.u16(frame::VERSION);
        w.bytes(&x86::SNAPSHOT_MAGIC);
        w.u32(4096);
        w.u16(conf.version);
        w.blob(&conf.data);
        w.into_bytes()
    };
    // PAGES (protocol 3): a run of one page of bytes at 0x1000, a run of two zero pages at 0x3000.
    let pages = {
        let mut w = Writer::new();
        w.u64(0x1000);
        w.u32(1);
        w.bytes(&[0]);
        w.bytes(page);
        w.u64(0x3000);
        w.u32(2);
        w.bytes(&[1]);
        w.into_bytes()
    };
    let mut sink = Sink(vec![0u8]);
    let mut ch = Channel::new(&mut sink);
    ch.send(Kind::Hello, &hello).unwrap();
    ch.start_sequence();
    ch.send(Kind::Pages, &pages).unwrap();
    ch.send(Kind::Round, &0u32.to_le_bytes()).unwrap();
    ch.send(Kind::State, state).unwrap();
    let end = ch.sent(3).encode();
    ch.send(Kind::End, &end).unwrap();
    sink.0
}

/// A stream that keeps what is written to it and reads nothing.
struct Sink(Vec<u8>);

impl std::io::Read for Sink {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Ok(0)
    }
}

impl std::io::Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The seeds made with tetra's encoders (what `fuzz/seeds/` holds).
fn generated(dir: &Path) {
    // vmm-core's sections and the x86 codec.
    let conf = VmConfig {
        cpus: 2,
        mem_mib: 64,
        cmdline: "console=ttyS0".into(),
        virtio: VirtioConfig {
            rng: true,
            console: true,
            disks: vec![DiskConfig {
                read_only: true,
                id: Some("d0".into()),
                ..DiskConfig::new("/img")
            }],
            ..VirtioConfig::default()
        },
        ..VmConfig::default()
    };
    let conf_s = sections::conf_section(&conf);
    let mems_s = sections::mems_section(&MemsInfo {
        file: "vm.snap.mem-0123456789abcdef".into(),
        nonce: 0x0123_4567_89ab_cdef,
        page_size: 4096,
        regions: vec![RegionLayout {
            guest_addr: 0,
            size: 64 << 20,
            file_offset: 0,
        }],
        integrity: Some(MemIntegrity {
            file_size: (64 << 20) + 40,
            digests: MemDigests {
                chunk_bytes: 2 << 20,
                digests: (0..32).collect(),
            },
        }),
    });
    let extra = x86::encode_vcpu(&x86::VcpuExtra {
        cpuid: vec![arch_x86_64::cpuid::CpuidEntry {
            function: 1,
            index: 0,
            flags: 0,
            eax: 0x806f8,
            ebx: 0x800,
            ecx: 0xfeda_3203,
            edx: 0x178b_fbff,
        }],
        tsc_khz: 2_000_000,
    });
    let vcpu_s = sections::vcpu_section(0, &regs(), &extra);
    // A VM with a PIT (`--pit on`): encode_vm writes PIT2 only then, and the seeds want all three.
    let vm = x86::VmState {
        pit: Some(Default::default()),
        ..Default::default()
    };
    let mut vm_sections = x86::encode_vm(&vm);
    let (mmu, t) = tlb();
    let tlb_bytes = arch_booke::snapshot::encode_tlb(mmu, &t);
    let mut mpic = Mpic::new(MpicModel::Fsl42, 1).unwrap();
    mpic.write(0x10000, 0x0005_0042, None).unwrap();
    let mpic_s = arch_booke::snapshot::mpic_section(&mpic.save());
    for (i, (name, seed)) in [
        ("conf", section_seed(0, &conf_s)),
        ("mems", section_seed(1, &mems_s)),
        ("vcpu", section_seed(2, &vcpu_s)),
        ("irqc", section_seed(3, &vm_sections[0])),
        ("pit2", section_seed(4, &vm_sections[1])),
        ("clck", section_seed(5, &vm_sections[2])),
        ("xvcp", cat(&[&[6, 2, 0], &extra])),
        ("tlb", cat(&[&[7, 1, 0], &tlb_bytes])),
        ("mpic", section_seed(8, &mpic_s)),
    ]
    .into_iter()
    .enumerate()
    {
        put(dir, "sections", &format!("{i}-{name}"), &seed);
    }

    // An envelope with every kind of x86 section, with and without its trailer.
    let mut env = Envelope::new(x86::SNAPSHOT_MAGIC);
    env.push(conf_s.clone());
    env.push(vcpu_s.clone());
    env.sections.append(&mut vm_sections);
    env.push(Section::new(b"SERL", 1, {
        let mut w = Writer::new();
        w.bytes(&[0x0c, 0, 0, 1, 3, 0x60, 8, 0xb0, 0x5a]);
        w.blob(b"ab");
        w.into_bytes()
    }));
    env.push(Section::new(
        b"FWCF",
        1,
        cat(&[&1u16.to_le_bytes(), &2u64.to_le_bytes()]),
    ));
    env.push(sections::note_section());
    env.push(mems_s);
    let bytes = env.encode();
    put(dir, "envelope", "full", &cat(&[&[2], &bytes]));
    put(
        dir,
        "envelope",
        "no-trailer",
        &cat(&[&[3], &bytes[..bytes.len() - 8]]),
    );

    // Device state: the fresh device's own state, for each selector.
    let serial = {
        let mut w = Writer::new();
        w.bytes(&[0x0c, 0, 0, 1, 3, 0x60, 8, 0xb0, 0x5a]);
        w.blob(b"xyz");
        w.into_bytes()
    };
    let mut cmos = vec![0x0a];
    cmos.extend_from_slice(&[0x26; 128]);
    cmos.extend_from_slice(&(-3600i64).to_le_bytes());
    let mmio = |status: u32, dev: &[u8]| {
        let mut w = Writer::new();
        w.u32(status);
        w.u64(1 << 32);
        w.u32(0);
        w.u32(1);
        w.u32(0);
        w.u32(1);
        w.u8(0);
        w.u32(1);
        w.u16(16);
        w.u8(1);
        w.u64(0x1000);
        w.u64(0x2000);
        w.u64(0x3000);
        w.u16(3);
        w.u16(3);
        w.u16(1);
        w.blob(dev);
        w.into_bytes()
    };
    let disk = cat(&[&128u64.to_le_bytes(), &[0]]);
    let disk_ro = cat(&[&128u64.to_le_bytes(), &[1]]);
    for (name, sel, state) in [
        ("serial", 0u8, serial),
        (
            "fw_cfg",
            1,
            cat(&[&0x19u16.to_le_bytes(), &3u64.to_le_bytes()]),
        ),
        ("i8042", 2, vec![0x47, 0x1c, 1, 0xfa, 0]),
        ("cmos", 3, cmos),
        ("pm1a", 4, vec![0, 1, 0x20, 0, 1, 0]),
        ("virtio-rng", 5, mmio(0x0f, &[])),
        ("virtio-rng-idle", 5, mmio(0x03, &[])),
        ("virtio-blk", 6, mmio(0x0f, &disk)),
        ("virtio-blk-ro", 7, mmio(0x0b, &disk_ro)),
    ] {
        put(dir, "device_state", name, &cat(&[&[sel, 1, 0], &state]));
    }

    // A migration stream: HELLO, one page, a round, STATE, END; framed with CRCs (mode 0) and as
    // records for the target to frame (mode 1).
    let mut small = Envelope::new(x86::SNAPSHOT_MAGIC);
    small.push(conf_s.clone());
    small.push(sections::vcpu_section(0, &VcpuState::new(), &extra));
    let state = small.encode();
    put(
        dir,
        "migration",
        "stream",
        &stream(&conf_s, &[0xf4; 4096], &state),
    );
    let framed = stream(&conf_s, &[0xf4; 4096], &state);
    let mut records = vec![1u8];
    let mut at = 1;
    while at < framed.len() {
        let len = u32::from_le_bytes(framed[at + 1..at + 5].try_into().unwrap()) as usize;
        records.push(framed[at]);
        records.extend_from_slice(&(len as u16).to_le_bytes());
        records.extend_from_slice(&framed[at + 5..at + 5 + len]);
        at += 9 + len;
    }
    put(dir, "migration", "records", &records);

    // Control requests.
    for (i, r) in [
        "pause\n",
        "status",
        "vcpus\n",
        "snapshot /tmp/vm.snap\n",
        "migrate unix:/tmp/m.sock\n",
        "migrate tcp:127.0.0.1:4444\n",
        "migrate tcp:[::1]:4444\n",
    ]
    .iter()
    .enumerate()
    {
        put(dir, "control", &format!("{i}"), r.as_bytes());
    }

    // HTTP requests on the control socket.
    for (i, r) in [
        "GET /vm HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "PUT /vm/pause HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
        "PUT /vm/snapshot HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 23\r\n\r\n{\"path\":\"/tmp/vm.snap\"}",
        "PUT /vm/migrate HTTP/1.1\r\nContent-Length: 34\r\n\r\n{\"uri\":\"tcp:127.0.0.1:4444\",\"x\":1}",
        "GET /vm/metrics?x=1 HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
    ]
    .iter()
    .enumerate()
    {
        put(dir, "http", &format!("{i}"), r.as_bytes());
    }

    // QMP input lines.
    for (i, r) in [
        "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"query-status\",\"id\":1}\n",
        "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"unix:/tmp/m.sock\"},\"id\":\"a\"}\n",
        "{\"execute\":\"migrate-set-capabilities\",\"arguments\":{\"capabilities\":[{\"capability\":\"xbzrle\",\"state\":true}]}}\n",
        "{\"execute\":\"stop\",\"arguments\":{\"x\":[1,{}]}}\n[1]\n{\n",
    ]
    .iter()
    .enumerate()
    {
        put(dir, "qmp", &format!("{i}"), r.as_bytes());
    }

    // ELF images: both classes and byte orders, with notes (PVH's Xen note among them).
    let code = [0x90u8; 64];
    let pvh = note(ElfOrder::Little, b"Xen", 18, &0x10_0000u32.to_le_bytes());
    let images = [
        (
            "x86-64-pvh",
            ElfBuilder::new(Class::Elf64, ElfOrder::Little, 62)
                .entry(0x10_0000)
                .load(0x10_0000, 0x10_0000, &code, 0x2000)
                .notes(&pvh)
                .build(),
        ),
        (
            "x86-32",
            ElfBuilder::new(Class::Elf32, ElfOrder::Little, 3)
                .entry(0x10_0000)
                .load(0x10_0000, 0x10_0000, &code, 64)
                .build(),
        ),
        (
            "ppc64-be",
            ElfBuilder::new(Class::Elf64, ElfOrder::Big, 21)
                .entry(0xc000_0000_0000_0000)
                .load(0xc000_0000_0000_0000, 0, &code, 0x1000)
                .notes(&note(ElfOrder::Big, b"Linux", 1, &[1, 2, 3, 4]))
                .build(),
        ),
        (
            "ppc32-be",
            ElfBuilder::new(Class::Elf32, ElfOrder::Big, 20)
                .entry(0xc000_0000)
                .load(0xc000_0000, 0, &code, 0x100)
                .build(),
        ),
    ];
    for (name, img) in &images {
        put(dir, "elf", name, img);
    }
    // x86 loaders: flags, initrd length, raw address, mode, command line, initrd, kernel.
    let x86_head = |flags: u8, initrd: &[u8], addr: u32, mode: u8| {
        cat(&[
            &[flags],
            &(initrd.len() as u16).to_le_bytes(),
            &addr.to_le_bytes(),
            &[mode],
            b"console=ttyS0\n",
            initrd,
        ])
    };
    put(
        dir,
        "x86_boot",
        "pvh",
        &cat(&[&x86_head(1, b"initrd", 0, 0), &images[0].1]),
    );
    put(
        dir,
        "x86_boot",
        "elf32",
        &cat(&[&x86_head(0, b"", 0, 0), &images[1].1]),
    );
    put(
        dir,
        "x86_boot",
        "raw-long",
        &cat(&[&x86_head(2, b"", 0x10_0000, 3), &code]),
    );
    // A multiboot header (magic, flags with the a.out kludge, checksum, addresses) in a flat image.
    let mut mb = vec![0u8; 64];
    let flags = 0x0001_0003u32;
    let fields = [
        0x1bad_b002u32,
        flags,
        0u32.wrapping_sub(0x1bad_b002 + flags),
        0x10_0000,
        0x10_0000,
        0x10_0100,
        0x10_0200,
        0x10_0020,
    ];
    for (i, v) in fields.iter().enumerate() {
        mb[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
    }
    mb.extend_from_slice(&[0xf4; 192]);
    put(
        dir,
        "x86_boot",
        "multiboot-aout",
        &cat(&[&x86_head(1, b"module", 0, 0), &mb]),
    );
    // A bzImage setup header (boot protocol 2.15) ahead of a tiny protected-mode kernel.
    let mut bz = vec![0u8; 0x600];
    bz[0x1f1] = 2; // setup_sects
    bz[0x1fe..0x200].copy_from_slice(&[0x55, 0xaa]);
    bz[0x202..0x206].copy_from_slice(b"HdrS");
    bz[0x206..0x208].copy_from_slice(&0x020fu16.to_le_bytes());
    bz[0x211] = 1; // loadflags: LOADED_HIGH
    bz[0x214..0x218].copy_from_slice(&0x10_0000u32.to_le_bytes());
    bz[0x22c..0x230].copy_from_slice(&0x7fff_ffffu32.to_le_bytes()); // initrd_addr_max
    bz[0x238..0x23c].copy_from_slice(&255u32.to_le_bytes()); // cmdline_size
    bz.extend_from_slice(&[0xf4; 256]);
    put(
        dir,
        "x86_boot",
        "bzimage",
        &cat(&[&x86_head(1, b"initrd", 0, 0), &bz]),
    );

    // BookE kernels: a uImage and big-endian ELFs; flags, initrd length, initrd, kernel.
    let ui = uimage::build("Linux", 0, 0, &[0x48, 0, 0, 0, 0x60, 0, 0, 0]);
    put(
        dir,
        "booke_boot",
        "uimage",
        &cat(&[&[1, 4, 0], b"rdrd", &ui]),
    );
    put(
        dir,
        "booke_boot",
        "uimage-crc-fixed",
        &cat(&[&[2, 0, 0], &ui]),
    );
    put(
        dir,
        "booke_boot",
        "elf64",
        &cat(&[&[4, 0, 0], &images[2].1]),
    );
    put(
        dir,
        "booke_boot",
        "elf32",
        &cat(&[&[0, 0, 0], &images[3].1]),
    );

    // arm64 boot plans: address, image length, flags, initrd length, RAM MiB, image.
    for (name, addr, len, flags, initrd, mib) in [
        ("image", 0x4008_0000u64, 64u64, 0u8, 0u64, 128u32),
        ("initrd", 0x4008_0000, 4096, 1, 1 << 20, 7),
        ("small", 0x4000_0000, 0, 8 | 1, 4096, 4),
        ("mode", 0x4000_1000, 64, 2, 0, 64),
    ] {
        let seed = cat(&[
            &addr.to_le_bytes(),
            &len.to_le_bytes(),
            &[flags],
            &initrd.to_le_bytes(),
            &(mib - 1).to_le_bytes(),
            &[0x1f, 0x20, 0x03, 0xd5],
        ]);
        put(dir, "arm64_boot", name, &seed);
    }

    // ITS tables: flags 1 (registers kept in RAM), 4 vCPUs, the device table (GITS_BASER0) at
    // RAM + 64 KiB and the collection table (GITS_BASER1) at RAM + 128 KiB, then entries as
    // (offset, value) writes: two devices, two ITEs, two collections on vCPUs 1 and 3.
    {
        let valid = 1u64 << 63;
        let baser = |kind: u64, page: u64| valid | kind << 56 | 7 << 48 | page << 16;
        let mut seed = vec![1u8, 3];
        for b in [baser(1, 1), baser(4, 2), 0, 0, 0, 0, 0, 0] {
            seed.extend_from_slice(&b.to_le_bytes());
        }
        let itt = 0x3_0000u64 + 0x4000_0000;
        for (off, raw) in [
            (0x1_0000u32, valid | 5 << 49 | (itt >> 8) << 5 | 1),
            (0x1_0028, valid | ((itt + 0x100) >> 8) << 5),
            (0x2_0000, valid | 1 << 16),
            (0x2_0008, valid | 3 << 16 | 7),
            (0x3_0000, 3 << 48 | 8192 << 16),
            (0x3_0018, 8193 << 16 | 7),
            (0x3_0108, 9000 << 16 | 7),
        ] {
            seed.extend_from_slice(&off.to_le_bytes());
            seed.extend_from_slice(&raw.to_le_bytes());
        }
        put(dir, "its_tables", "saved", &seed);
    }

    // inspect tlb: a BookE snapshot, and raw dumps in both byte orders.
    let mut benv = Envelope::new(arch_booke::snapshot::SNAPSHOT_MAGIC);
    benv.push(sections::vcpu_section(0, &VcpuState::new(), &tlb_bytes));
    benv.push(mpic_s);
    let q = b"8x2,4;0xc0000000,pid=0;0xc1000010,pid=1,access=r,user\n";
    put(
        dir,
        "booke_tlb",
        "snapshot",
        &cat(&[&[0], q, &benv.encode()]),
    );
    put(
        dir,
        "booke_tlb",
        "raw-be",
        &cat(&[&[6], q, &t.encode(ByteOrder::Big)]),
    );
    put(
        dir,
        "booke_tlb",
        "raw-le",
        &cat(&[&[7], q, &t.encode(ByteOrder::Little)]),
    );

    // inspect htab / the HTAB stream: a first pass of a table with a few entries (one in a
    // secondary PTEG), headers in both byte orders, and a later pass of modified entries.
    {
        use arch_ppc64::mmu::htab::{encode, Endian};
        use arch_ppc64::mmu::{
            hash, translate, HashTable, Hpte, HtabGeometry, SegmentSize, Slb, SlbEntry,
        };
        let g = HtabGeometry::new(18).unwrap();
        let slbe = SlbEntry::new(0xc000_0000_0000_0000, SegmentSize::M256, 0x1234, 0);
        let seg = Slb::new(&[slbe])
            .unwrap()
            .lookup(0xc000_0000_0000_0000)
            .unwrap();
        let mut t = HashTable::new(g).unwrap();
        for (k, ea) in [
            0xc000_0000_0000_0000u64,
            0xc000_0000_0123_4000,
            0xc000_0000_0fff_f000,
        ]
        .into_iter()
        .enumerate()
        {
            let va = translate::virtual_address(&seg, ea);
            let secondary = k == 1;
            let v = (translate::avpn(va, 12) << 7) | 1 | if secondary { 2 } else { 0 };
            let h = hash::hash(seg.vsid, seg.size, ea, 12);
            let e = Hpte {
                v,
                r: 0x100_0000 * (k as u64 + 1) | 0x192,
            };
            t.set(g.group(h, secondary) * 8 + k as u64, e).unwrap();
        }
        let line = format!(
            "{:#x},{:#x};=0xc000000001234abc;=0xc000000000000010;=0x10\n",
            slbe.esid, slbe.vsid
        );
        let first = |e| encode(g, &t.first_pass(), e).unwrap();
        put(
            dir,
            "htab",
            "first-le",
            &cat(&[&[0], line.as_bytes(), &first(Endian::Little)]),
        );
        put(
            dir,
            "htab",
            "first-be",
            &cat(&[&[7], line.as_bytes(), &first(Endian::Big)]),
        );
        let mut newer = t.clone();
        newer.set(5, Hpte { v: 0x81, r: 0x5000 }).unwrap();
        let (i, _) = t.entries().next().unwrap();
        newer.set(i, Hpte::default()).unwrap();
        let later = encode(g, &t.diff_pass(&newer), Endian::Little).unwrap();
        put(
            dir,
            "htab",
            "later-le",
            &cat(&[&[0], line.as_bytes(), &later]),
        );
        // The same entries as a KVM-PR table's HTAB snapshot section (flags: a section, RAM of
        // 64 MiB).
        use arch_ppc64::snapshot::htab::{htab_section, HtabState};
        let snap = HtabState {
            order: g.order(),
            entries: t.entries().collect(),
        };
        put(
            dir,
            "htab",
            "section",
            &cat(&[&[0x18], b"\n", &htab_section(Some(&snap)).data]),
        );
    }

    // Register states.
    put(dir, "regs", "x86", &regs().encode());
    put(dir, "regs", "empty", &VcpuState::new().encode());

    // virtio: flags, features, queue size (log2), desc/avail/used, next avail/used, RAM image.
    // One chain of two buffers (entropy), one block read request (header, data, status).
    let virtio_seed = |flags: u8, features: u32, chain: &[(u64, u32, u16, u16)]| {
        let mut ram = vec![0u8; 0xa00];
        for (i, (addr, len, fl, next)) in chain.iter().enumerate() {
            let at = 0x100 + 16 * i;
            ram[at..at + 8].copy_from_slice(&addr.to_le_bytes());
            ram[at + 8..at + 12].copy_from_slice(&len.to_le_bytes());
            ram[at + 12..at + 14].copy_from_slice(&fl.to_le_bytes());
            ram[at + 14..at + 16].copy_from_slice(&next.to_le_bytes());
        }
        ram[0x202..0x204].copy_from_slice(&1u16.to_le_bytes()); // avail idx 1, ring[0] = 0
                                                                // A block request header at 0x400: IN (0), sector 1.
        ram[0x408..0x410].copy_from_slice(&1u64.to_le_bytes());
        cat(&[
            &[flags],
            &features.to_le_bytes(),
            &[4],
            &0x100u16.to_le_bytes(),
            &0x200u16.to_le_bytes(),
            &0x300u16.to_le_bytes(),
            &0u16.to_le_bytes(),
            &0u16.to_le_bytes(),
            &ram,
        ])
    };
    put(
        dir,
        "virtio",
        "rng",
        &virtio_seed(0, 0, &[(0x400, 64, 3, 1), (0x480, 64, 2, 0)]),
    );
    put(
        dir,
        "virtio",
        "blk-read",
        &virtio_seed(
            1,
            1 << 9,
            &[(0x400, 16, 1, 1), (0x600, 512, 3, 2), (0x900, 1, 2, 0)],
        ),
    );
    put(
        dir,
        "virtio",
        "blk-read-ro-split",
        &virtio_seed(
            7,
            0,
            &[(0x400, 16, 1, 1), (0x600, 512, 3, 2), (0x900, 1, 2, 0)],
        ),
    );

    // pci: a count of accesses, each (kind, offset u32, value u64), then a state. A driver's
    // first steps on device 1 through ECAM (kind 1, +4 write, length in bits 3-5): read its id,
    // turn memory decoding and bus mastering on, size BAR 0, enable MSI-X, read the first
    // capability, then the common configuration through the window (kind 2) and mechanism #1.
    let ecam = |reg: u32| 1u32 << 15 | reg;
    let acc = |kind: u8, len: u8, off: u32, v: u64| {
        cat(&[
            &[kind | (len - 1) << 3],
            &off.to_le_bytes(),
            &v.to_le_bytes(),
        ])
    };
    let ops = [
        acc(1, 4, ecam(0), 0),
        acc(1 | 4, 2, ecam(4), 6),
        acc(1 | 4, 4, ecam(0x10), 0xffff_ffff),
        acc(1, 4, ecam(0x10), 0),
        acc(1 | 4, 4, ecam(0x10), 0xc000_0000),
        acc(1, 1, ecam(0x34), 0),
        acc(1, 8, ecam(0x40), 0),
        acc(2, 4, 0, 0),
        acc(2 | 4, 1, 0x14, 0x0f),
        acc(4, 4, 0, 0x8000_0800),
        acc(0, 4, 4, 0),
    ];
    let mut seed = vec![ops.len() as u8];
    for o in &ops {
        seed.extend_from_slice(o);
    }
    put(dir, "pci", "driver", &seed);
    put(dir, "pci", "empty", &[]);
}
