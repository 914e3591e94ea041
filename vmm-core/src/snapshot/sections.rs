//! The sections vmm-core itself writes: the VM's configuration (`CONF`), the memory layout and
//! file (`MEMS`), one `VCPU` per vCPU, and an optional `NOTE` (added in format 1.1).

use super::codec::{CodecError, SectionSpec};
use super::envelope::Section;
use super::memfile::RegionLayout;
use crate::config::VmConfig;
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
const CONF: SectionSpec = SectionSpec::new(TAG_CONF, 1, 2);
const MEMS: SectionSpec = SectionSpec::new(TAG_MEMS, 1, 1);
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

/// `CONF`: vCPUs, RAM, command line, interrupt controller; version 2 adds the virtio devices
/// (`u8` flags: bit 0 the entropy device). A VM without virtio devices is written as version 1,
/// which older tetras read.
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
    w.u8(u8::from(c.virtio.rng));
    CONF.section(w.into_bytes())
}

/// Decodes `CONF` into a configuration with no kernel.
pub fn read_conf(s: &Section) -> Result<VmConfig, SectionError> {
    CONF.check(s.version)?;
    let mut r = Reader::new(&s.data);
    let cpus = r.u32("the vCPU count")?;
    let mem_mib = r.u64("the RAM size")?;
    let text = |b: &[u8], what: &str| {
        String::from_utf8(b.to_vec())
            .map_err(|_| SectionError::Invalid(format!("{what} is not UTF-8")))
    };
    let cmdline = text(r.blob("the command line")?, "the command line")?;
    let has_irqchip = r.u8("the irqchip flag")? != 0;
    let irqchip = text(r.blob("the irqchip name")?, "the irqchip name")?;
    let mut virtio = crate::config::VirtioConfig::default();
    if s.version >= 2 {
        let flags = r.u8("the virtio devices")?;
        if flags & !1 != 0 {
            return Err(SectionError::Invalid(format!(
                "virtio device flags {flags:#x} name devices this tetra does not know"
            )));
        }
        virtio.rng = flags & 1 != 0;
    }
    r.finish("the configuration")?;
    let config = VmConfig {
        cpus,
        mem_mib,
        ..VmConfig::default()
    };
    config
        .check_limits()
        .map_err(|e| SectionError::Invalid(e.to_string()))?;
    Ok(VmConfig {
        cmdline,
        irqchip: has_irqchip.then_some(irqchip),
        virtio,
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
}

/// `MEMS`.
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
    MEMS.section(w.into_bytes())
}

/// Decodes `MEMS`; the file name must be a plain name (no directories).
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
        regions.push(RegionLayout {
            guest_addr: r.u64("a region address")?,
            size: r.u64("a region size")?,
            file_offset: r.u64("a region's file offset")?,
        });
    }
    r.finish("the memory regions")?;
    Ok(MemsInfo {
        file,
        nonce,
        page_size,
        regions,
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
