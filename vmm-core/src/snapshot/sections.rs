//! The sections vmm-core itself writes: the VM's configuration (`CONF`), the memory layout and
//! file (`MEMS`), one `VCPU` per vCPU, and an optional `NOTE` (added in format 1.1).

use super::codec::{CodecError, SectionSpec};
use super::digest::{self, MemDigests};
use super::envelope::Section;
use super::memfile::RegionLayout;
use crate::config::{
    DiskConfig, NetConfig, VirtioConfig, VmConfig, VsockConfig, MAX_DISKS, MAX_NETS,
};
use crate::wire::{Reader, Writer};

/// The VM's configuration.
pub const TAG_CONF: [u8; 4] = *b"CONF";
/// Guest memory: file, nonce, page size, regions.
pub const TAG_MEMS: [u8; 4] = *b"MEMS";
/// One vCPU: id, register list, arch extra.
pub const TAG_VCPU: [u8; 4] = *b"VCPU";
/// Who wrote the snapshot (optional; format 1.1).
pub const TAG_NOTE: [u8; 4] = *b"NOTE";
/// The tags vmm-core reads.
pub const CORE_TAGS: [[u8; 4]; 4] = [TAG_CONF, TAG_MEMS, TAG_VCPU, TAG_NOTE];

/// The most guest RAM regions a snapshot may describe.
pub const MAX_REGIONS: usize = 64;

/// The sections' versions: each is read from version 1 and written at its current version.
const CONF: SectionSpec = SectionSpec::new(TAG_CONF, 1, 4);
const MEMS: SectionSpec = SectionSpec::new(TAG_MEMS, 1, 2);
const VCPU: SectionSpec = SectionSpec::new(TAG_VCPU, 1, 1);
const NOTE: SectionSpec = SectionSpec::new(TAG_NOTE, 1, 1);

/// Errors decoding vmm-core's sections.
#[derive(Debug, thiserror::Error)]
pub enum SectionError {
    /// The section ends early, has bytes left over or a version this tetra does not read.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A value out of range.
    #[error("{0}")]
    Invalid(String),
}
crate::codec_error_from!(SectionError);

/// `CONF`: the VM's configuration.
///
/// Version 1: vCPUs (`u32`), RAM in MiB (`u64`), the command line (blob), whether there is an
/// interrupt controller choice (`u8`) and its name (blob).
///
/// Version 2 adds the virtio devices after them:
///
/// ```text
/// u8   flags: bit 0 the entropy device, bit 1 the virtio console, bit 2 the devices are on
///        virtio-pci (else virtio-mmio); other bits zero
/// u32  disk count (at most MAX_DISKS), then for each disk, in the guest's order:
///        blob  the image's path (UTF-8, absolute when written by tetra, not empty)
///        u8    flags: bit 0 read-only, bit 1 an id follows; other bits zero
///        blob  the id (UTF-8, at most 20 bytes; empty without bit 1)
/// ```
///
/// Version 3 adds the network cards after the disks:
///
/// ```text
/// u32  card count (at most MAX_NETS), then for each card, in the guest's order:
///        blob  the TAP interface's name (1 to 15 bytes, a valid interface name)
///        6     the MAC address
/// ```
///
/// Version 4 adds the vsock device after the cards (whose count may then be 0):
///
/// ```text
/// u64  the guest's CID (3 to 2^32 - 2)
/// blob the Unix socket's path (UTF-8, not empty)
/// ```
///
/// Strings are blobs (`u32` length and bytes). A VM without virtio devices is written as
/// version 1, one without network cards or vsock as version 2 and one without vsock as
/// version 3, which older tetras read. The images themselves are not in the snapshot: the
/// restored VM opens the same paths again.
pub fn conf_section(c: &VmConfig) -> Section {
    let mut w = Writer::new();
    w.u32(c.cpus);
    w.u64(c.mem_mib);
    w.blob(c.cmdline.as_bytes());
    w.u8(c.irqchip.is_some() as u8);
    w.blob(c.irqchip.as_deref().unwrap_or("").as_bytes());
    if !c.virtio.any() {
        return Section::new(&TAG_CONF, 1, w.into_bytes());
    }
    let pci = c.virtio.transport == crate::config::Transport::Pci;
    w.u8(u8::from(c.virtio.rng) | u8::from(c.virtio.console) << 1 | u8::from(pci) << 2);
    w.u32(c.virtio.disks.len() as u32);
    for d in &c.virtio.disks {
        // A VM is built only with UTF-8 paths (`Disk::open` refuses others).
        w.blob(d.path.to_string_lossy().as_bytes());
        w.u8(u8::from(d.read_only) | u8::from(d.id.is_some()) << 1);
        w.blob(d.id.as_deref().unwrap_or("").as_bytes());
    }
    if c.virtio.nets.is_empty() && c.virtio.vsock.is_none() {
        return Section::new(&TAG_CONF, 2, w.into_bytes());
    }
    w.u32(c.virtio.nets.len() as u32);
    for n in &c.virtio.nets {
        w.blob(n.tap.as_bytes());
        w.bytes(&n.mac);
    }
    let Some(v) = &c.virtio.vsock else {
        return Section::new(&TAG_CONF, 3, w.into_bytes());
    };
    w.u64(v.cid);
    // No socket path (an empty one): the kernel's vhost-vsock.
    w.blob(
        v.uds
            .as_deref()
            .map(|p| p.to_string_lossy())
            .unwrap_or_default()
            .as_bytes(),
    );
    Section::new(&TAG_CONF, 4, w.into_bytes())
}

fn text(b: &[u8], what: &str) -> Result<String, SectionError> {
    String::from_utf8(b.to_vec()).map_err(|_| SectionError::Invalid(format!("{what} is not UTF-8")))
}

/// Version 2's virtio devices, version 3's network cards and version 4's vsock device.
fn read_virtio(r: &mut Reader, version: u16) -> Result<VirtioConfig, SectionError> {
    let flags = r.u8("the virtio devices")?;
    if flags & !7 != 0 {
        return Err(SectionError::Invalid(format!(
            "virtio device flags {flags:#x} name devices this tetra does not know"
        )));
    }
    // The smallest disk: an empty path blob, its flags and an empty id blob.
    let n = r.count("the disk count", 9)?;
    if n > MAX_DISKS {
        return Err(SectionError::Invalid(format!(
            "{n} disks; at most {MAX_DISKS}"
        )));
    }
    let mut disks = Vec::with_capacity(n);
    for i in 0..n {
        let path = text(r.blob("a disk's path")?, "a disk's path")?;
        let flags = r.u8("a disk's flags")?;
        let id = text(r.blob("a disk's id")?, "a disk's id")?;
        if path.is_empty() || path.contains('\0') {
            return Err(SectionError::Invalid(format!("disk {i}'s path {path:?}")));
        }
        if flags & !3 != 0 || (flags & 2 == 0 && !id.is_empty()) {
            return Err(SectionError::Invalid(format!(
                "disk {i}'s flags {flags:#x} (with an id of {} bytes)",
                id.len()
            )));
        }
        disks.push(DiskConfig {
            path: path.into(),
            read_only: flags & 1 != 0,
            id: (flags & 2 != 0).then_some(id),
        });
    }
    let mut nets = Vec::new();
    if version >= 3 {
        // The smallest card: a one-byte name blob and the address.
        let n = r.count("the network card count", 11)?;
        if n > MAX_NETS {
            return Err(SectionError::Invalid(format!(
                "{n} network cards; at most {MAX_NETS}"
            )));
        }
        for i in 0..n {
            let tap = text(
                r.blob("a network card's interface")?,
                "a network card's interface",
            )?;
            crate::devices::virtio::net::tap::check_name(&tap)
                .map_err(|e| SectionError::Invalid(format!("network card {i}: {e}")))?;
            let mac: [u8; 6] = r.array("a network card's address")?;
            nets.push(NetConfig { tap, mac });
        }
    }
    let mut vsock = None;
    if version >= 4 {
        let cid = r.u64("the vsock CID")?;
        let uds = text(r.blob("the vsock socket path")?, "the vsock socket path")?;
        if uds.contains('\0') {
            return Err(SectionError::Invalid(format!(
                "the vsock socket path {uds:?}"
            )));
        }
        // Empty: the kernel's vhost-vsock.
        vsock = Some(VsockConfig {
            cid,
            uds: (!uds.is_empty()).then(|| uds.into()),
        });
    }
    let mut virtio = VirtioConfig {
        transport: if flags & 4 != 0 {
            crate::config::Transport::Pci
        } else {
            crate::config::Transport::Mmio
        },
        rng: flags & 1 != 0,
        console: flags & 2 != 0,
        disks,
        nets,
        vsock,
    };
    // Without devices the transport means nothing (and is written as version 1, without it):
    // read as the default, so that a section reads the same after it is written again.
    if !virtio.any() {
        virtio.transport = crate::config::Transport::default();
    }
    Ok(virtio)
}

/// Decodes `CONF` into a configuration with no kernel.
pub fn read_conf(s: &Section) -> Result<VmConfig, SectionError> {
    CONF.check(s.version)?;
    let mut r = Reader::new(&s.data);
    let cpus = r.u32("the vCPU count")?;
    let mem_mib = r.u64("the RAM size")?;
    let cmdline = text(r.blob("the command line")?, "the command line")?;
    let has_irqchip = r.u8("the irqchip flag")? != 0;
    let irqchip = text(r.blob("the irqchip name")?, "the irqchip name")?;
    let virtio = if s.version >= 2 {
        read_virtio(&mut r, s.version)?
    } else {
        VirtioConfig::default()
    };
    r.finish("the configuration")?;
    let config = VmConfig {
        cpus,
        mem_mib,
        virtio,
        ..VmConfig::default()
    };
    config
        .check_limits()
        .map_err(|e| SectionError::Invalid(e.to_string()))?;
    Ok(VmConfig {
        cmdline,
        irqchip: has_irqchip.then_some(irqchip),
        ..config
    })
}

/// Where a snapshot's memory is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemsInfo {
    /// The memory file's name, in the state file's directory.
    pub file: String,
    /// A random number shared with the state file's name for this pair.
    pub nonce: u64,
    /// The host page size the file was written with.
    pub page_size: u32,
    /// The regions.
    pub regions: Vec<RegionLayout>,
    /// The memory file's size and digests (`MEMS` version 2); `None` in a version 1 section,
    /// whose memory file is mapped unchecked.
    pub integrity: Option<MemIntegrity>,
}

/// What binds a memory file to its state file and proves its content (`MEMS` version 2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemIntegrity {
    /// The memory file's exact size: the regions, then its trailer.
    pub file_size: u64,
    /// The digest of every chunk of guest memory.
    pub digests: MemDigests,
}

/// `MEMS`: version 1 without [`MemIntegrity`], version 2 with it.
///
/// ```text
/// blob  the memory file's name (UTF-8, a plain file name)
/// u64   nonce (also in the memory file's trailer)
/// u32   host page size
/// u32   region count (1..=64), then for each: guest address u64, size u64, file offset u64
/// -- version 2 adds:
/// u64   the memory file's size: the regions' bytes, then its 40-byte trailer
/// u64   chunk size: a power of two, at least the page size, at most 64 MiB
/// u32   digest count: the regions' chunks (each region cut into chunks, its last one maybe
///       shorter), then one XXH3-64 u64 per chunk, region by region
/// ```
pub fn mems_section(m: &MemsInfo) -> Section {
    let mut w = Writer::new();
    w.blob(m.file.as_bytes());
    w.u64(m.nonce);
    w.u32(m.page_size);
    w.u32(m.regions.len() as u32);
    for l in &m.regions {
        w.u64(l.guest_addr);
        w.u64(l.size);
        w.u64(l.file_offset);
    }
    let Some(i) = &m.integrity else {
        return Section::new(&TAG_MEMS, 1, w.into_bytes());
    };
    w.u64(i.file_size);
    w.u64(i.digests.chunk_bytes);
    w.u32(i.digests.digests.len() as u32);
    for d in &i.digests.digests {
        w.u64(*d);
    }
    MEMS.section(w.into_bytes())
}

/// Decodes `MEMS`; the file name must be a plain name (no directories), the regions must not
/// wrap, and version 2's chunk size and digest count must fit the regions.
pub fn read_mems(s: &Section) -> Result<MemsInfo, SectionError> {
    MEMS.check(s.version)?;
    let mut r = Reader::new(&s.data);
    let file = String::from_utf8(r.blob("the memory file name")?.to_vec())
        .map_err(|_| SectionError::Invalid("the memory file name is not UTF-8".into()))?;
    if file.is_empty() || file.contains('/') || file == "." || file == ".." {
        return Err(SectionError::Invalid(format!(
            "memory file name {file:?} is not a plain file name"
        )));
    }
    let nonce = r.u64("the nonce")?;
    let page_size = r.u32("the page size")?;
    let n = r.count("the region count", 24)?;
    if n == 0 || n > MAX_REGIONS {
        return Err(SectionError::Invalid(format!("{n} memory regions")));
    }
    let mut regions = Vec::with_capacity(n);
    for _ in 0..n {
        let l = RegionLayout {
            guest_addr: r.u64("a region address")?,
            size: r.u64("a region size")?,
            file_offset: r.u64("a region's file offset")?,
        };
        if l.guest_addr.checked_add(l.size).is_none() || l.file_offset.checked_add(l.size).is_none()
        {
            return Err(SectionError::Invalid(format!(
                "the region at {:#x} (size {:#x}, file offset {:#x}) wraps",
                l.guest_addr, l.size, l.file_offset
            )));
        }
        regions.push(l);
    }
    let integrity = if s.version >= 2 {
        let file_size = r.u64("the memory file's size")?;
        let chunk_bytes = r.u64("the chunk size")?;
        if !chunk_bytes.is_power_of_two()
            || chunk_bytes < u64::from(page_size)
            || chunk_bytes > digest::MAX_CHUNK_BYTES
        {
            return Err(SectionError::Invalid(format!(
                "chunk size {chunk_bytes:#x} (a power of two from the page size, {page_size:#x}, to {:#x})",
                digest::MAX_CHUNK_BYTES
            )));
        }
        let count = r.count("the digest count", 8)?;
        let want = digest::chunk_count(&regions, chunk_bytes);
        if want != Some(count as u64) {
            return Err(SectionError::Invalid(format!(
                "{count} digests for the regions' {} chunks of {chunk_bytes:#x} bytes",
                want.map_or_else(|| "uncountable".to_string(), |n| n.to_string())
            )));
        }
        let mut digests = Vec::with_capacity(count);
        for _ in 0..count {
            digests.push(r.u64("a chunk digest")?);
        }
        Some(MemIntegrity {
            file_size,
            digests: MemDigests {
                chunk_bytes,
                digests,
            },
        })
    } else {
        None
    };
    r.finish("the memory regions")?;
    Ok(MemsInfo {
        file,
        nonce,
        page_size,
        regions,
        integrity,
    })
}

/// A decoded `VCPU` section.
pub struct VcpuSection {
    /// The vCPU index.
    pub id: u32,
    /// Its registers.
    pub regs: crate::regs::VcpuState,
    /// The arch's extra bytes.
    pub extra: Vec<u8>,
}

/// `VCPU`.
pub fn vcpu_section(id: u32, regs: &crate::regs::VcpuState, extra: &[u8]) -> Section {
    let mut w = Writer::new();
    w.u32(id);
    w.blob(&regs.encode());
    w.blob(extra);
    VCPU.section(w.into_bytes())
}

/// Decodes `VCPU`.
pub fn read_vcpu(s: &Section) -> Result<VcpuSection, SectionError> {
    VCPU.check(s.version)?;
    let mut r = Reader::new(&s.data);
    let id = r.u32("the vCPU index")?;
    let regs = crate::regs::VcpuState::decode(r.blob("the register list")?)
        .map_err(|e| SectionError::Invalid(format!("vCPU {id} register list: {e}")))?;
    let extra = r.blob("the arch's vCPU state")?.to_vec();
    r.finish("the arch's vCPU state")?;
    Ok(VcpuSection { id, regs, extra })
}

/// `NOTE`: the writer, for people.
pub fn note_section() -> Section {
    Section {
        optional: true,
        ..NOTE.section(format!("tetra {}", env!("CARGO_PKG_VERSION")).into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_disks() -> VmConfig {
        VmConfig {
            cpus: 2,
            mem_mib: 64,
            cmdline: "console=hvc0".into(),
            virtio: VirtioConfig {
                transport: crate::config::Transport::Mmio,
                rng: true,
                console: true,
                disks: vec![
                    DiskConfig::new("/images/root.img"),
                    DiskConfig {
                        path: "/images/data é.img".into(),
                        read_only: true,
                        id: Some("serial-1".into()),
                    },
                    DiskConfig {
                        id: Some(String::new()),
                        ..DiskConfig::new("/x")
                    },
                ],
                nets: Vec::new(),
                vsock: None,
            },
            ..VmConfig::default()
        }
    }

    #[test]
    fn conf_records_the_transport_and_refuses_unknown_flags() {
        let mut c = with_disks();
        c.virtio.transport = crate::config::Transport::Pci;
        let s = conf_section(&c);
        assert_eq!(read_conf(&s).unwrap().virtio.transport, c.virtio.transport);
        let mmio = conf_section(&with_disks());
        assert_eq!(
            read_conf(&mmio).unwrap().virtio.transport,
            crate::config::Transport::Mmio
        );
        // The flag byte after the command line and the interrupt controller choice.
        let flags_at = 4 + 8 + 4 + c.cmdline.len() + 1 + 4;
        assert_eq!(s.data[flags_at], 0b111);
        let mut bad = s.data.clone();
        bad[flags_at] = 0b1111;
        let e = read_conf(&Section::new(&TAG_CONF, s.version, bad)).unwrap_err();
        assert!(e.to_string().contains("does not know"), "{e}");
    }

    #[test]
    fn conf_version_4_carries_the_vsock_device_with_or_without_cards() {
        let mut c = with_disks();
        c.virtio.vsock = Some(VsockConfig {
            cid: 3,
            uds: Some("/run/v.sock".into()),
        });
        let s = conf_section(&c);
        assert_eq!(s.version, 4);
        assert_eq!(read_conf(&s).unwrap().virtio, c.virtio);
        c.virtio.nets = vec![NetConfig::new("tap0", 0)];
        let s = conf_section(&c);
        assert_eq!(s.version, 4);
        assert_eq!(read_conf(&s).unwrap().virtio, c.virtio);
        // A CID out of range, a path with a NUL, a truncated section: refused.
        let vsock = |cid: u64, path: &[u8]| {
            let mut data = conf_section(&with_disks()).data;
            data.extend_from_slice(&0u32.to_le_bytes());
            data.extend_from_slice(&cid.to_le_bytes());
            data.extend_from_slice(&(path.len() as u32).to_le_bytes());
            data.extend_from_slice(path);
            read_conf(&Section::new(&TAG_CONF, 4, data))
        };
        assert!(vsock(3, b"/v").is_ok());
        // No path: the kernel's vhost-vsock, carried as such.
        let kernel = vsock(3, b"").unwrap().virtio.vsock.unwrap();
        assert_eq!(kernel.uds, None);
        c.virtio.vsock = Some(VsockConfig { cid: 7, uds: None });
        assert_eq!(read_conf(&conf_section(&c)).unwrap().virtio, c.virtio);
        for (cid, path, why) in [
            (2, &b"/v"[..], "vsock CID 2"),
            (u64::from(u32::MAX), b"/v", "vsock CID"),
            (3, b"/v\0", "socket path"),
        ] {
            let e = vsock(cid, path).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
        let mut data = s.data.clone();
        data.truncate(data.len() - 3);
        assert!(read_conf(&Section::new(&TAG_CONF, 4, data)).is_err());
    }

    #[test]
    fn conf_version_3_carries_the_network_cards_and_2_is_kept_without_them() {
        let mut c = with_disks();
        assert_eq!(conf_section(&c).version, 2);
        c.virtio.nets = vec![
            NetConfig::new("tap0", 0),
            NetConfig {
                tap: "tetra-net.1".into(),
                mac: [2, 0, 0, 0, 0, 9],
            },
        ];
        let s = conf_section(&c);
        assert_eq!(s.version, 3);
        assert_eq!(read_conf(&s).unwrap().virtio, c.virtio);
        // A bad interface name, a truncated address, too many cards: refused by name.
        let cards = |n: u32, name: &[u8], mac: &[u8]| {
            let mut data = conf_section(&with_disks()).data;
            data.extend_from_slice(&n.to_le_bytes());
            data.extend_from_slice(&(name.len() as u32).to_le_bytes());
            data.extend_from_slice(name);
            data.extend_from_slice(mac);
            read_conf(&Section::new(&TAG_CONF, 3, data))
        };
        assert!(cards(1, b"tap0", &[2, 0, 0, 0, 0, 1]).is_ok());
        for (n, name, mac, why) in [
            (1, &b"a/b"[..], &[2u8, 0, 0, 0, 0, 1][..], "interface name"),
            (1, b"", &[2, 0, 0, 0, 0, 1], "network card count"),
            (1, b"tap0", &[2, 0, 0], "network card"),
            (9, b"tap0", &[2, 0, 0, 0, 0, 1], "network card"),
        ] {
            let e = cards(n, name, mac).unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
    }

    #[test]
    fn conf_carries_the_virtio_devices_and_stays_version_1_without_them() {
        let c = with_disks();
        let s = conf_section(&c);
        assert_eq!(s.version, 2);
        let back = read_conf(&s).unwrap();
        assert_eq!(back.virtio, c.virtio);
        assert_eq!((back.cpus, back.mem_mib), (2, 64));
        assert_eq!(back.cmdline, c.cmdline);
        let plain = VmConfig::default();
        let s = conf_section(&plain);
        assert_eq!(s.version, 1);
        assert_eq!(read_conf(&s).unwrap().virtio, VirtioConfig::default());
        // Only disks, no entropy device.
        let mut only = with_disks();
        only.virtio.rng = false;
        assert_eq!(read_conf(&conf_section(&only)).unwrap().virtio, only.virtio);
    }

    #[test]
    fn a_corrupt_conf_is_an_error_never_a_panic() {
        let s = conf_section(&with_disks());
        for n in 0..s.data.len() {
            let cut = Section::new(&TAG_CONF, 2, s.data[..n].to_vec());
            assert!(read_conf(&cut).is_err(), "{n} bytes read");
        }
        let mut long = s.data.clone();
        long.push(0);
        assert!(read_conf(&Section::new(&TAG_CONF, 2, long)).is_err());
        // The v1 fields of a VM with no command line or irqchip: 4 + 8 + 4 + 1 + 4 bytes.
        let base = conf_section(&VmConfig::default()).data;
        let v2 = |tail: &[u8]| {
            let mut d = base.clone();
            d.extend_from_slice(tail);
            read_conf(&Section::new(&TAG_CONF, 2, d))
        };
        let disk = |path: &[u8], flags: u8, id: &[u8]| {
            let mut w = Writer::new();
            w.u8(0);
            w.u32(1);
            w.blob(path);
            w.u8(flags);
            w.blob(id);
            w.into_bytes()
        };
        assert!(v2(&disk(b"/a", 0, b"")).is_ok());
        assert!(v2(&disk(b"/a", 3, b"0123456789")).is_ok());
        for (what, bytes) in [
            ("unknown device flags", vec![8u8, 0, 0, 0, 0]),
            ("a huge disk count", vec![0, 0xff, 0xff, 0xff, 0xff]),
            ("an empty path", disk(b"", 0, b"")),
            ("a path with NUL", disk(b"/a\0b", 0, b"")),
            ("a non-UTF-8 path", disk(b"/\xff", 0, b"")),
            ("unknown disk flags", disk(b"/a", 4, b"")),
            ("an id without its flag", disk(b"/a", 0, b"x")),
            ("an id over 20 bytes", disk(b"/a", 2, &[b'x'; 21])),
            ("a non-UTF-8 id", disk(b"/a", 2, b"\xff")),
        ] {
            let e = v2(&bytes)
                .err()
                .unwrap_or_else(|| panic!("{what} accepted"));
            assert!(!e.to_string().is_empty(), "{what}");
        }
        // More disks than tetra accepts, each complete.
        let mut w = Writer::new();
        w.u8(0);
        w.u32(MAX_DISKS as u32 + 1);
        for _ in 0..=MAX_DISKS {
            w.blob(b"/a");
            w.u8(0);
            w.blob(b"");
        }
        let e = v2(&w.into_bytes()).unwrap_err();
        assert!(e.to_string().contains("disks"), "{e}");
    }

    fn mems(integrity: bool) -> MemsInfo {
        let regions = vec![
            RegionLayout {
                guest_addr: 0,
                size: 3 << 20,
                file_offset: 0,
            },
            RegionLayout {
                guest_addr: 1 << 32,
                size: 1 << 20,
                file_offset: 3 << 20,
            },
        ];
        MemsInfo {
            file: "vm.snap.mem-0123456789abcdef".into(),
            nonce: 0x0123_4567_89ab_cdef,
            page_size: 4096,
            regions,
            integrity: integrity.then(|| MemIntegrity {
                file_size: (4 << 20) + 40,
                digests: MemDigests {
                    chunk_bytes: 2 << 20,
                    digests: vec![1, 2, 3],
                },
            }),
        }
    }

    #[test]
    fn mems_version_2_carries_the_digests_and_version_1_still_reads() {
        let m = mems(true);
        let s = mems_section(&m);
        assert_eq!(s.version, 2);
        assert_eq!(read_mems(&s).unwrap(), m);
        let old = mems_section(&mems(false));
        assert_eq!(old.version, 1);
        assert_eq!(read_mems(&old).unwrap(), mems(false));
        for n in 0..s.data.len() {
            let cut = Section::new(&TAG_MEMS, 2, s.data[..n].to_vec());
            assert!(read_mems(&cut).is_err(), "{n} bytes read");
        }
        // Version 2's fields are not read in a version 1 section: they are trailing bytes there.
        assert!(read_mems(&Section::new(&TAG_MEMS, 1, s.data.clone())).is_err());
        assert!(read_mems(&Section::new(&TAG_MEMS, 3, s.data.clone())).is_err());
    }

    #[test]
    fn mems_refuses_bad_chunks_digest_counts_and_wrapping_regions() {
        let refused = |f: &dyn Fn(&mut MemsInfo), words: &str| {
            let mut m = mems(true);
            f(&mut m);
            let e = read_mems(&mems_section(&m)).unwrap_err().to_string();
            assert!(e.contains(words), "{words:?} not in {e:?}");
        };
        let chunk =
            |c: u64| move |m: &mut MemsInfo| m.integrity.as_mut().unwrap().digests.chunk_bytes = c;
        refused(&chunk(0), "chunk size");
        refused(&chunk(3 << 20), "chunk size");
        refused(&chunk(2048), "chunk size");
        refused(&chunk(128 << 20), "chunk size");
        refused(
            &|m| m.integrity.as_mut().unwrap().digests.digests.push(4),
            "4 digests for the regions' 3 chunks",
        );
        refused(
            &|m| {
                m.integrity.as_mut().unwrap().digests.digests.pop();
            },
            "2 digests",
        );
        refused(&|m| m.regions[1].guest_addr = u64::MAX - 4096, "wraps");
        refused(&|m| m.regions[0].file_offset = u64::MAX, "wraps");
        // A digest count larger than the section could hold.
        let mut d = mems_section(&mems(true)).data;
        let at = d.len() - 3 * 8 - 4;
        d[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(read_mems(&Section::new(&TAG_MEMS, 2, d)).is_err());
    }
}
