//! The shared `struct kvm_run` page and its decoding into vmm-core's [`VcpuExit`].
//!
//! The generic part of `kvm_run` has the same layout on every 64-bit arch: a 32-byte header, a
//! 256-byte union of per-exit structs at offset 32, then `kvm_valid_regs`, `kvm_dirty_regs` and
//! the 2048-byte sync-regs area. The PowerPC exits (PAPR_HCALL, EPR, DCR, OSI) are decoded in
//! place: the returned [`VcpuExit`] borrows the page, so what the VMM writes there (an hcall
//! return, the EPR vector, an MMIO read) is seen by the next `KVM_RUN`. I/O data lives at
//! `data_offset` in the mapping (x86); every offset and length the kernel reports is checked
//! against the mapping before it is used.

use crate::consts::*;
use std::mem::{offset_of, size_of};
use std::ptr::NonNull;
use vmm_core::hypervisor::{DcrExit, PaprHcall, VcpuExit};

/// The header of `struct kvm_run`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmRunHeader {
    /// In: ask for an exit when interrupts can be injected (x86).
    pub request_interrupt_window: u8,
    /// In: return from `KVM_RUN` at once (`KVM_CAP_IMMEDIATE_EXIT`).
    pub immediate_exit: u8,
    /// Reserved.
    pub padding1: [u8; 6],
    /// Out: `KVM_EXIT_*`.
    pub exit_reason: u32,
    /// Out (x86).
    pub ready_for_interrupt_injection: u8,
    /// Out (x86).
    pub if_flag: u8,
    /// Out: `KVM_RUN_*` flags.
    pub flags: u16,
    /// x86 CR8.
    pub cr8: u64,
    /// x86 APIC base.
    pub apic_base: u64,
}

/// `kvm_run.io` (`KVM_EXIT_IO`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmRunIo {
    /// `KVM_EXIT_IO_IN` or `KVM_EXIT_IO_OUT`.
    pub direction: u8,
    /// Bytes per access.
    pub size: u8,
    /// Port.
    pub port: u16,
    /// Number of accesses.
    pub count: u32,
    /// Offset of the data from the start of `kvm_run`.
    pub data_offset: u64,
}

/// `kvm_run.mmio` (`KVM_EXIT_MMIO`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmRunMmio {
    /// Guest-physical address.
    pub phys_addr: u64,
    /// Data written, or to return on a read.
    pub data: [u8; 8],
    /// Access length.
    pub len: u32,
    /// Non-zero for a write.
    pub is_write: u8,
}

/// `kvm_run.system_event` (`KVM_EXIT_SYSTEM_EVENT`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmRunSystemEvent {
    /// `KVM_SYSTEM_EVENT_*`.
    pub type_: u32,
    /// Valid words of `data` (kernels before 5.18 leave 0 here and use `data[0]` as flags).
    pub ndata: u32,
    /// Event data (a union with `flags` in C).
    pub data: [u64; 16],
}

/// `kvm_run.internal` (`KVM_EXIT_INTERNAL_ERROR`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmRunInternal {
    /// `KVM_INTERNAL_ERROR_*`.
    pub suberror: u32,
    /// Valid words of `data`.
    pub ndata: u32,
    /// Diagnostic data.
    pub data: [u64; 16],
}

/// `kvm_run.fail_entry` (`KVM_EXIT_FAIL_ENTRY`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KvmRunFailEntry {
    /// Hardware reason.
    pub hardware_entry_failure_reason: u64,
    /// The CPU.
    pub cpu: u32,
}

/// Offset of the exit union in `struct kvm_run`.
pub const EXIT_OFFSET: usize = size_of::<KvmRunHeader>();
/// Size of the exit union.
pub const EXIT_SIZE: usize = 256;
/// Offset of `kvm_valid_regs`.
pub const VALID_REGS_OFFSET: usize = EXIT_OFFSET + EXIT_SIZE;
/// `sizeof(struct kvm_run)` (the sync-regs area is 2048 bytes on every arch).
pub const KVM_RUN_SIZE: usize = VALID_REGS_OFFSET + 16 + 2048;

/// Why a `kvm_run` page could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RunError {
    /// The mapping is smaller than `struct kvm_run`.
    #[error("kvm_run mapping of {0} bytes is smaller than struct kvm_run")]
    Small(usize),
    /// The kernel reported I/O data outside the mapping.
    #[error("KVM_EXIT_IO data at {offset:#x}+{len} lies outside the {map}-byte kvm_run mapping")]
    IoData {
        /// `data_offset`.
        offset: u64,
        /// `size * count`.
        len: u64,
        /// The mapping size.
        map: usize,
    },
    /// An MMIO length above 8.
    #[error("KVM_EXIT_MMIO with length {0}")]
    MmioLen(u32),
}

/// A vCPU's `kvm_run` page.
pub struct RunPage {
    ptr: NonNull<u8>,
    len: usize,
    /// `None`: an `mmap` of a vCPU fd, unmapped on drop. `Some`: memory owned here (decoder
    /// tests).
    owned: Option<Vec<u64>>,
}

// SAFETY: the page is owned by this value (one vCPU); it is only reached through `&mut self`, or
// through the `immediate_exit` pointer, which the kick protocol writes from a signal handler of
// the vCPU's own thread.
unsafe impl Send for RunPage {}

impl RunPage {
    /// Maps `len` bytes of vCPU fd `fd` (`len` from `KVM_GET_VCPU_MMAP_SIZE`).
    pub fn map(fd: std::os::fd::BorrowedFd<'_>, len: usize) -> std::io::Result<Self> {
        use std::os::fd::AsRawFd;
        if len < KVM_RUN_SIZE {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                RunError::Small(len),
            ));
        }
        // SAFETY: a fresh shared mapping of the vCPU fd; the kernel checks fd and length.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        let ptr = NonNull::new(p as *mut u8).ok_or_else(std::io::Error::last_os_error)?;
        Ok(RunPage {
            ptr,
            len,
            owned: None,
        })
    }

    /// A zeroed page in ordinary memory (for decoder tests).
    #[cfg(test)]
    pub(crate) fn owned(len: usize) -> Self {
        let mut v = vec![0u64; len.div_ceil(8)];
        let ptr = NonNull::new(v.as_mut_ptr() as *mut u8).unwrap();
        RunPage {
            ptr,
            len,
            owned: Some(v),
        }
    }

    /// The mapping's size.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: a page is at least `struct kvm_run`.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The page's bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: ptr..ptr+len is this page's mapping, valid while self lives.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The page's bytes, mutably.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`, and `&mut self` makes this the only reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// The header.
    pub fn header(&self) -> KvmRunHeader {
        // SAFETY: the page is at least KVM_RUN_SIZE bytes and page-aligned (or u64-aligned for an
        // owned page); the header is plain integers.
        unsafe { std::ptr::read(self.ptr.as_ptr() as *const KvmRunHeader) }
    }

    /// `KVM_EXIT_*` of the last exit.
    pub fn exit_reason(&self) -> u32 {
        self.header().exit_reason
    }

    /// The `immediate_exit` byte.
    pub fn immediate_exit_ptr(&mut self) -> *mut u8 {
        // SAFETY: offset 1 is inside the page.
        unsafe {
            self.ptr
                .as_ptr()
                .add(offset_of!(KvmRunHeader, immediate_exit))
        }
    }

    /// A reference to the exit union as `T`.
    ///
    /// # Safety
    /// `T` must be one of this module's `repr(C)` integer structs (or vmm-core's `PaprHcall`,
    /// `DcrExit`, `u32`, `[u64; 32]`), at most [`EXIT_SIZE`] bytes and 8-aligned at most.
    unsafe fn exit_mut<T>(&mut self) -> &mut T {
        debug_assert!(size_of::<T>() <= EXIT_SIZE && std::mem::align_of::<T>() <= 8);
        // SAFETY: the union lies inside the page (len >= KVM_RUN_SIZE), offset 32 is 8-aligned
        // in an 8-aligned page, and the caller picks a plain-integer type that fits.
        unsafe { &mut *(self.ptr.as_ptr().add(EXIT_OFFSET) as *mut T) }
    }

    /// Decodes the last exit. Data the exit carries is borrowed from the page.
    pub fn exit(&mut self) -> Result<VcpuExit<'_>, RunError> {
        if self.len < KVM_RUN_SIZE {
            return Err(RunError::Small(self.len));
        }
        let reason = self.exit_reason();
        let len = self.len;
        // SAFETY (all `exit_mut` calls below): each type is the member of the union that
        // `reason` selects, a plain-integer repr(C) struct that fits the union.
        Ok(match reason {
            KVM_EXIT_IO => {
                // SAFETY: this exit reason selects the union member of type `KvmRunIo`.
                let io = *unsafe { self.exit_mut::<KvmRunIo>() };
                let n = io.size as u64 * io.count as u64;
                let end = io.data_offset.checked_add(n).filter(|&e| e <= len as u64);
                let Some(end) = end else {
                    return Err(RunError::IoData {
                        offset: io.data_offset,
                        len: n,
                        map: len,
                    });
                };
                let data = &mut self.bytes_mut()[io.data_offset as usize..end as usize];
                let size = usize::from(io.size);
                if io.direction == KVM_EXIT_IO_OUT {
                    VcpuExit::IoOut {
                        port: io.port,
                        size,
                        data,
                    }
                } else {
                    VcpuExit::IoIn {
                        port: io.port,
                        size,
                        data,
                    }
                }
            }
            KVM_EXIT_MMIO => {
                // SAFETY: this exit reason selects the union member of type `KvmRunMmio`.
                let mmio = unsafe { self.exit_mut::<KvmRunMmio>() };
                if mmio.len > 8 {
                    return Err(RunError::MmioLen(mmio.len));
                }
                let (addr, n, write) = (mmio.phys_addr, mmio.len as usize, mmio.is_write != 0);
                let data = &mut mmio.data[..n];
                if write {
                    VcpuExit::MmioWrite { addr, data }
                } else {
                    VcpuExit::MmioRead { addr, data }
                }
            }
            // SAFETY: this exit reason selects the union member of type `PaprHcall`.
            KVM_EXIT_PAPR_HCALL => VcpuExit::PaprHcall(unsafe { self.exit_mut::<PaprHcall>() }),
            // SAFETY: this exit reason selects the union member of type `u32`.
            KVM_EXIT_EPR => VcpuExit::Epr(unsafe { self.exit_mut::<u32>() }),
            // SAFETY: this exit reason selects the union member of type `DcrExit`.
            KVM_EXIT_DCR => VcpuExit::Dcr(unsafe { self.exit_mut::<DcrExit>() }),
            // SAFETY: this exit reason selects the union member of type `[u64; 32]`.
            KVM_EXIT_OSI => VcpuExit::Osi(unsafe { self.exit_mut::<[u64; 32]>() }),
            KVM_EXIT_SYSTEM_EVENT => {
                // SAFETY: this exit reason selects the union member of type `KvmRunSystemEvent`.
                let ev = unsafe { self.exit_mut::<KvmRunSystemEvent>() };
                let n = (ev.ndata as usize).clamp(1, 16);
                VcpuExit::SystemEvent {
                    kind: ev.type_,
                    data: &ev.data[..n],
                }
            }
            KVM_EXIT_HLT => VcpuExit::Hlt,
            KVM_EXIT_SHUTDOWN => VcpuExit::Shutdown,
            KVM_EXIT_INTR => VcpuExit::Intr,
            KVM_EXIT_DEBUG => VcpuExit::Debug,
            KVM_EXIT_INTERNAL_ERROR => VcpuExit::InternalError {
                // SAFETY: this exit reason selects the union member of type `KvmRunInternal`.
                suberror: unsafe { self.exit_mut::<KvmRunInternal>() }.suberror,
            },
            KVM_EXIT_FAIL_ENTRY => VcpuExit::FailEntry {
                // SAFETY: this exit reason selects the union member of type `KvmRunFailEntry`.
                reason: unsafe { self.exit_mut::<KvmRunFailEntry>() }.hardware_entry_failure_reason,
            },
            other => VcpuExit::Other(other),
        })
    }
}

impl Drop for RunPage {
    fn drop(&mut self) {
        if self.owned.is_none() {
            // SAFETY: ptr/len are the mapping made in `map`, unmapped once here.
            unsafe { libc::munmap(self.ptr.as_ptr() as *mut libc::c_void, self.len) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(reason: u32) -> RunPage {
        let mut p = RunPage::owned(4096);
        p.bytes_mut()[8..12].copy_from_slice(&reason.to_ne_bytes());
        p
    }

    fn put<T: Copy>(p: &mut RunPage, v: T) {
        // SAFETY: test values of this module's plain structs, within the union.
        unsafe { *p.exit_mut::<T>() = v };
    }

    #[test]
    fn layout() {
        assert_eq!(EXIT_OFFSET, 32);
        assert_eq!(KVM_RUN_SIZE, 2352);
        assert_eq!(size_of::<KvmRunMmio>(), 24);
        assert_eq!(size_of::<PaprHcall>(), 88);
        assert_eq!(size_of::<DcrExit>(), 12);
        assert_eq!(size_of::<KvmRunSystemEvent>(), 136);
    }

    #[test]
    fn io_out_and_in_borrow_the_page() {
        let mut p = page(KVM_EXIT_IO);
        put(
            &mut p,
            KvmRunIo {
                direction: KVM_EXIT_IO_OUT,
                size: 1,
                port: 0x3f8,
                count: 2,
                data_offset: 4000,
            },
        );
        p.bytes_mut()[4000..4002].copy_from_slice(b"hi");
        match p.exit().unwrap() {
            VcpuExit::IoOut { port, size, data } => {
                assert_eq!((port, size, data), (0x3f8, 1, &b"hi"[..]))
            }
            e => panic!("{e:?}"),
        }
        put(
            &mut p,
            KvmRunIo {
                direction: KVM_EXIT_IO_IN,
                size: 4,
                port: 0x10,
                count: 1,
                data_offset: 4000,
            },
        );
        match p.exit().unwrap() {
            VcpuExit::IoIn {
                port: 0x10,
                size: 4,
                data,
            } => data.copy_from_slice(&[1, 2, 3, 4]),
            e => panic!("{e:?}"),
        }
        assert_eq!(&p.bytes()[4000..4004], &[1, 2, 3, 4]);
    }

    #[test]
    fn io_outside_the_mapping_is_an_error() {
        let mut p = page(KVM_EXIT_IO);
        for (off, size, count) in [(4095u64, 2u8, 1u32), (u64::MAX, 1, 1), (0, 255, u32::MAX)] {
            put(
                &mut p,
                KvmRunIo {
                    direction: 0,
                    size,
                    port: 0,
                    count,
                    data_offset: off,
                },
            );
            assert!(
                matches!(p.exit(), Err(RunError::IoData { .. })),
                "{off} {size} {count}"
            );
        }
    }

    #[test]
    fn mmio_read_write() {
        let mut p = page(KVM_EXIT_MMIO);
        put(
            &mut p,
            KvmRunMmio {
                phys_addr: 0xf000_0000,
                data: [9; 8],
                len: 4,
                is_write: 0,
            },
        );
        match p.exit().unwrap() {
            VcpuExit::MmioRead { addr, data } => {
                assert_eq!((addr, data.len()), (0xf000_0000, 4));
                data.copy_from_slice(&[1, 2, 3, 4]);
            }
            e => panic!("{e:?}"),
        }
        assert_eq!(&p.bytes()[40..44], &[1, 2, 3, 4]);
        put(
            &mut p,
            KvmRunMmio {
                phys_addr: 8,
                data: [7; 8],
                len: 2,
                is_write: 1,
            },
        );
        assert!(matches!(
            p.exit().unwrap(),
            VcpuExit::MmioWrite {
                addr: 8,
                data: [7, 7]
            }
        ));
        put(
            &mut p,
            KvmRunMmio {
                phys_addr: 8,
                data: [0; 8],
                len: 9,
                is_write: 1,
            },
        );
        assert_eq!(p.exit().unwrap_err(), RunError::MmioLen(9));
    }

    #[test]
    fn powerpc_exits_write_back_into_the_page() {
        let mut p = page(KVM_EXIT_PAPR_HCALL);
        put(
            &mut p,
            PaprHcall {
                nr: 0x04,
                ret: 0,
                args: [1, 2, 3, 4, 5, 6, 7, 8, 9],
            },
        );
        match p.exit().unwrap() {
            VcpuExit::PaprHcall(h) => {
                assert_eq!((h.nr, h.args[8]), (4, 9));
                h.ret = 0x55;
            }
            e => panic!("{e:?}"),
        }
        assert_eq!(&p.bytes()[40..48], &0x55u64.to_ne_bytes());

        let mut p = page(KVM_EXIT_EPR);
        match p.exit().unwrap() {
            VcpuExit::Epr(v) => *v = 0x1234,
            e => panic!("{e:?}"),
        }
        assert_eq!(&p.bytes()[32..36], &0x1234u32.to_ne_bytes());

        let mut p = page(KVM_EXIT_DCR);
        put(
            &mut p,
            DcrExit {
                dcrn: 0x80,
                data: 0,
                is_write: 0,
            },
        );
        match p.exit().unwrap() {
            VcpuExit::Dcr(d) => {
                assert_eq!(d.dcrn, 0x80);
                d.data = 7;
            }
            e => panic!("{e:?}"),
        }
        assert_eq!(&p.bytes()[36..40], &7u32.to_ne_bytes());

        let mut p = page(KVM_EXIT_OSI);
        p.bytes_mut()[32 + 8 * 3..32 + 8 * 4].copy_from_slice(&42u64.to_ne_bytes());
        match p.exit().unwrap() {
            VcpuExit::Osi(gprs) => assert_eq!(gprs[3], 42),
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn system_event_and_simple_exits() {
        let mut p = page(KVM_EXIT_SYSTEM_EVENT);
        let mut ev = KvmRunSystemEvent {
            type_: KVM_SYSTEM_EVENT_RESET,
            ndata: 2,
            data: [0; 16],
        };
        ev.data[1] = 5;
        put(&mut p, ev);
        assert!(matches!(
            p.exit().unwrap(),
            VcpuExit::SystemEvent {
                kind: 2,
                data: [0, 5]
            }
        ));
        // ndata beyond 16 (or an old kernel's 0) stays within the array.
        ev.ndata = 1000;
        put(&mut p, ev);
        assert!(
            matches!(p.exit().unwrap(), VcpuExit::SystemEvent { data, .. } if data.len() == 16)
        );
        ev.ndata = 0;
        put(&mut p, ev);
        assert!(matches!(p.exit().unwrap(), VcpuExit::SystemEvent { data, .. } if data.len() == 1));

        for (r, want) in [
            (KVM_EXIT_HLT, "Hlt"),
            (KVM_EXIT_SHUTDOWN, "Shutdown"),
            (KVM_EXIT_INTR, "Intr"),
            (KVM_EXIT_DEBUG, "Debug"),
            (77, "Other(77)"),
        ] {
            let mut p = page(r);
            assert_eq!(format!("{:?}", p.exit().unwrap()), want);
        }
        let mut p = page(KVM_EXIT_INTERNAL_ERROR);
        put(
            &mut p,
            KvmRunInternal {
                suberror: 3,
                ndata: 0,
                data: [0; 16],
            },
        );
        assert!(matches!(
            p.exit().unwrap(),
            VcpuExit::InternalError { suberror: 3 }
        ));
        let mut p = page(KVM_EXIT_FAIL_ENTRY);
        put(
            &mut p,
            KvmRunFailEntry {
                hardware_entry_failure_reason: 0x80000021,
                cpu: 0,
            },
        );
        assert!(matches!(
            p.exit().unwrap(),
            VcpuExit::FailEntry { reason: 0x80000021 }
        ));
    }

    #[test]
    fn small_page_is_refused() {
        let mut p = RunPage::owned(1024);
        assert_eq!(p.exit().unwrap_err(), RunError::Small(1024));
    }

    #[test]
    fn immediate_exit_is_byte_1() {
        let mut p = page(0);
        // SAFETY: the pointer is into the owned page.
        unsafe { *p.immediate_exit_ptr() = 1 };
        assert_eq!(p.bytes()[1], 1);
        assert_eq!(p.header().immediate_exit, 1);
    }
}
