//! Payload loading and entry state.
//!
//! The boot vCPU enters the payload the way Linux's `arch/powerpc/boot` and kexec enter a
//! ppc64 kernel with a flattened device tree (Documentation/arch/powerpc/booting.rst): r3 = the
//! device tree's physical address, r4 = the kernel's physical load address, r5 = 0 (no Open
//! Firmware client interface), in real mode (MSR\[IR,DR\] = 0), 64-bit, machine checks on,
//! external interrupts off, little-endian unless the raw image asks for big-endian.
//!
//! Secondary vCPUs start the way RTAS `start-cpu` defines: at the given address, r3 as given,
//! real mode, 64-bit and big-endian (PAPR; Linux's secondary entry begins with `FIXUP_ENDIAN`).
//!
//! Payloads ([`plan`]): a raw image (`--raw ADDR[:le|be]`), copied to ADDR and entered there; or
//! a 64-bit PowerPC ELF image (a `vmlinux`, or a small kernel built for QEMU's pseries machine),
//! placed as QEMU's pseries machine places `-kernel` ([`elf`]: at 0x400000 for an image linked
//! at 0) and entered in its own byte order.

pub mod elf;

use crate::machine::StartRequest;
use thiserror::Error;
use vm_memory::{Bytes, GuestAddress};
use vmm_core::memory::GuestMemoryMmap;
use vmm_core::RawLoad;

/// MSR\[SF\]: 64-bit mode.
pub const MSR_SF: u64 = 1 << 63;
/// MSR\[VEC\]: vector (VMX) available.
pub const MSR_VEC: u64 = 1 << 25;
/// MSR\[VSX\]: VSX available.
pub const MSR_VSX: u64 = 1 << 23;
/// MSR\[EE\]: external interrupts enabled.
pub const MSR_EE: u64 = 1 << 15;
/// MSR\[PR\]: problem (user) state.
pub const MSR_PR: u64 = 1 << 14;
/// MSR\[FP\]: floating point available.
pub const MSR_FP: u64 = 1 << 13;
/// MSR\[ME\]: machine checks enabled.
pub const MSR_ME: u64 = 1 << 12;
/// MSR\[IR\]: instruction relocation.
pub const MSR_IR: u64 = 1 << 5;
/// MSR\[DR\]: data relocation.
pub const MSR_DR: u64 = 1 << 4;
/// MSR\[LE\]: little-endian.
pub const MSR_LE: u64 = 1;

/// Errors loading the payload.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BootError {
    /// No payload.
    #[error("ppc64 has no embedded default guest: give --kernel")]
    NoKernel,
    /// A payload that is neither ELF nor given `--raw`.
    #[error("{0} is not an ELF image: ppc64 loads 64-bit PowerPC ELF images, or raw ones with --raw ADDR")]
    NotElfOrRaw(String),
    /// An ELF image that ppc64 does not load.
    #[error("{name}: cannot load it as a ppc64 ELF image")]
    Elf {
        /// The payload.
        name: String,
        /// Why.
        #[source]
        source: elf::ElfError,
    },
    /// An unknown `--raw` mode.
    #[error("--raw mode {0:?}: ppc64 takes `le` (default) or `be`")]
    BadMode(String),
    /// An empty image.
    #[error("{0} is empty")]
    Empty(String),
    /// A load address that is not instruction-aligned.
    #[error("--raw address {0:#x} is not 4-byte aligned")]
    Misaligned(u64),
    /// The image does not fit in RAM.
    #[error("{name} ({len} bytes at {addr:#x}) does not fit in {ram_mib} MiB of guest RAM")]
    OutOfRam {
        /// The payload.
        name: String,
        /// Load address.
        addr: u64,
        /// Its length.
        len: u64,
        /// RAM size.
        ram_mib: u64,
    },
}

/// Byte order the boot vCPU starts in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endian {
    /// Little-endian (ppc64le, the default).
    Little,
    /// Big-endian.
    Big,
}

/// The byte order a `--raw` mode asks for.
pub fn raw_endian(raw: &RawLoad) -> Result<Endian, BootError> {
    match raw.mode.as_deref() {
        None | Some("le") => Ok(Endian::Little),
        Some("be") => Ok(Endian::Big),
        Some(m) => Err(BootError::BadMode(m.to_string())),
    }
}

/// Checks that a raw image of `len` bytes fits at `addr` in `ram_size` bytes of RAM; returns
/// its range `[addr, addr + len)`.
pub fn raw_range(name: &str, addr: u64, len: u64, ram_size: u64) -> Result<(u64, u64), BootError> {
    if len == 0 {
        return Err(BootError::Empty(name.to_string()));
    }
    if !addr.is_multiple_of(4) {
        return Err(BootError::Misaligned(addr));
    }
    match addr.checked_add(len) {
        Some(end) if end <= ram_size => Ok((addr, end)),
        _ => Err(BootError::OutOfRam {
            name: name.to_string(),
            addr,
            len,
            ram_mib: ram_size >> 20,
        }),
    }
}

/// Where a payload goes and how the boot vCPU enters it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelPlan<'a> {
    /// The bytes to write: (guest-physical address, file bytes, bytes in memory; the rest of
    /// each is zeroed).
    pub segments: Vec<(u64, &'a [u8], u64)>,
    /// Where the boot vCPU starts.
    pub entry: u64,
    /// The boot vCPU's byte order.
    pub endian: Endian,
    /// The guest-physical span of every segment, `[start, end)`, for the firmware allocator.
    pub span: (u64, u64),
}

/// Plans payload `name` (`image`) in `ram_size` bytes of RAM: with `raw`, the image at its
/// address; without, an ELF image ([`elf::parse`]). Every segment must fit in RAM.
pub fn plan<'a>(
    name: &str,
    image: &'a [u8],
    raw: Option<&RawLoad>,
    ram_size: u64,
) -> Result<KernelPlan<'a>, BootError> {
    if let Some(raw) = raw {
        let endian = raw_endian(raw)?;
        let span = raw_range(name, raw.addr, image.len() as u64, ram_size)?;
        return Ok(KernelPlan {
            segments: vec![(raw.addr, image, image.len() as u64)],
            entry: raw.addr,
            endian,
            span,
        });
    }
    if !elf::is_elf(image) {
        return Err(BootError::NotElfOrRaw(name.to_string()));
    }
    let k = elf::parse(image).map_err(|source| BootError::Elf {
        name: name.to_string(),
        source,
    })?;
    let mut span = (u64::MAX, 0);
    for s in &k.segments {
        // Translated addresses are below 0x1040_0000 and mem_size fits the ELF's own address
        // space, so only the RAM bound can fail.
        let (start, end) = raw_range(name, s.addr, s.mem_size, ram_size)?;
        span = (span.0.min(start), span.1.max(end));
    }
    Ok(KernelPlan {
        segments: k
            .segments
            .iter()
            .map(|s| (s.addr, s.data, s.mem_size))
            .collect(),
        entry: k.entry,
        endian: if k.byte_order == elf::ByteOrder::Little {
            Endian::Little
        } else {
            Endian::Big
        },
        span,
    })
}

/// Copies `image` to `addr` (already checked with [`raw_range`]).
pub fn write_image(
    mem: &GuestMemoryMmap,
    name: &str,
    addr: u64,
    image: &[u8],
) -> Result<(), BootError> {
    mem.write_slice(image, GuestAddress(addr))
        .map_err(|_| BootError::OutOfRam {
            name: name.to_string(),
            addr,
            len: image.len() as u64,
            ram_mib: vm_memory::GuestMemoryBackend::iter(mem)
                .map(vm_memory::GuestMemoryRegion::len)
                .sum::<u64>()
                >> 20,
        })
}

/// A vCPU's entry registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryState {
    /// Where it starts.
    pub nip: u64,
    /// Its MSR.
    pub msr: u64,
    /// r3.
    pub r3: u64,
    /// r4.
    pub r4: u64,
    /// r5.
    pub r5: u64,
}

impl EntryState {
    /// The boot vCPU entering a payload loaded at `load` with the device tree at `fdt`.
    pub fn boot(load: u64, fdt: u64, endian: Endian) -> Self {
        let le = if endian == Endian::Little { MSR_LE } else { 0 };
        EntryState {
            nip: load,
            msr: MSR_SF | MSR_ME | le,
            r3: fdt,
            r4: load,
            r5: 0,
        }
    }

    /// A secondary vCPU started by RTAS `start-cpu`.
    pub fn secondary(req: StartRequest) -> Self {
        EntryState {
            nip: req.nip,
            msr: MSR_SF | MSR_ME,
            r3: req.r3,
            r4: 0,
            r5: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        let raw = |m: Option<&str>| RawLoad {
            addr: 0,
            mode: m.map(String::from),
        };
        assert_eq!(raw_endian(&raw(None)), Ok(Endian::Little));
        assert_eq!(raw_endian(&raw(Some("le"))), Ok(Endian::Little));
        assert_eq!(raw_endian(&raw(Some("be"))), Ok(Endian::Big));
        let e = raw_endian(&raw(Some("real"))).unwrap_err();
        assert!(e.to_string().contains("`le`"), "{e}");
    }

    #[test]
    fn ranges() {
        let ram = 16 << 20;
        assert_eq!(
            raw_range("k", 0x40_0000, 0x100, ram),
            Ok((0x40_0000, 0x40_0100))
        );
        assert_eq!(raw_range("k", 0, ram, ram), Ok((0, ram)));
        assert_eq!(raw_range("k", 2, 4, ram), Err(BootError::Misaligned(2)));
        assert_eq!(raw_range("k", 0, 0, ram), Err(BootError::Empty("k".into())));
        assert!(matches!(
            raw_range("k", ram - 4, 8, ram),
            Err(BootError::OutOfRam { .. })
        ));
        assert!(matches!(
            raw_range("k", u64::MAX - 3, 8, ram),
            Err(BootError::OutOfRam { .. })
        ));
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 1 << 20)]).unwrap();
        write_image(&mem, "k", 0x1000, &[1, 2, 3, 4]).unwrap();
        let mut b = [0u8; 4];
        mem.read_slice(&mut b, GuestAddress(0x1000)).unwrap();
        assert_eq!(b, [1, 2, 3, 4]);
        assert!(write_image(&mem, "k", (1 << 20) - 2, &[1, 2, 3, 4]).is_err());
    }

    #[test]
    fn plans() {
        let ram = 16 << 20;
        let raw = RawLoad {
            addr: 0x10_0000,
            mode: Some("be".into()),
        };
        let p = plan("k", &[1, 2, 3, 4], Some(&raw), ram).unwrap();
        assert_eq!(
            (p.entry, p.endian, p.span, p.segments.len()),
            (0x10_0000, Endian::Big, (0x10_0000, 0x10_0004), 1)
        );
        assert_eq!(
            plan("k", &[1, 2, 3, 4], None, ram).unwrap_err(),
            BootError::NotElfOrRaw("k".into())
        );
        let text = [0x60u8; 32];
        let img = vmm_core::elf::build::ElfBuilder::new(
            vmm_core::elf::Class::Elf64,
            vmm_core::elf::ByteOrder::Little,
            elf::EM_PPC64,
        )
        .load(0, 0, &text, 0x3000)
        .load(0x8000, 0x8000, &text, 0x100)
        .build();
        let p = plan("g.elf", &img, None, ram).unwrap();
        assert_eq!((p.entry, p.endian), (0x40_0000, Endian::Little));
        assert_eq!(p.span, (0x40_0000, 0x40_8100));
        assert_eq!(p.segments[1], (0x40_8000, &text[..], 0x100));
        // Too little RAM for the segment's memory size.
        assert!(matches!(
            plan("g.elf", &img, None, 0x40_2000),
            Err(BootError::OutOfRam { .. })
        ));
        let e = plan("bad.elf", b"\x7fELF\x02", None, ram).unwrap_err();
        assert!(e.to_string().starts_with("bad.elf: cannot load it"), "{e}");
    }

    #[test]
    fn entry_states() {
        let e = EntryState::boot(0x40_0000, 0x3ff_0000, Endian::Little);
        assert_eq!(e.msr, 0x8000_0000_0000_1001);
        assert_eq!(
            (e.nip, e.r3, e.r4, e.r5),
            (0x40_0000, 0x3ff_0000, 0x40_0000, 0)
        );
        assert_eq!(EntryState::boot(0, 0, Endian::Big).msr & MSR_LE, 0);
        let s = EntryState::secondary(StartRequest { nip: 0x100, r3: 9 });
        assert_eq!((s.nip, s.r3, s.msr), (0x100, 9, MSR_SF | MSR_ME));
        assert_eq!(s.msr & (MSR_IR | MSR_DR | MSR_EE | MSR_PR | MSR_LE), 0);
    }
}
