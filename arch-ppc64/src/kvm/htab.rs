//! The hashed page table of a hash-MMU guest ([`crate::mmu::plan`]): KVM's
//! (`KVM_PPC_ALLOCATE_HTAB`) or, on KVM-PR, a zeroed anonymous mapping of tetra's own, aligned
//! to its size, whose address each vCPU's SDR1 carries.

use crate::mmu::htab::abi::KVM_PPC_ALLOCATE_HTAB;
use crate::mmu::papr::HptWords;
use crate::mmu::plan::align_up;
use crate::mmu::{HtabGeometry, HtabHome};
use crate::snapshot::htab::HtabTracker;
use crate::snapshot::HtabState;
use kvm_ppc::PpcVm;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use vmm_core::hypervisor::HvError;
use vmm_sys_util::ioctl::ioctl_with_mut_ref;

/// A hash table in tetra's memory, unmapped when dropped.
#[derive(Debug)]
pub struct UserHtab {
    base: u64,
    geometry: HtabGeometry,
}

impl UserHtab {
    /// Maps a zeroed table of `geometry`, aligned to its size.
    pub fn new(geometry: HtabGeometry) -> Result<Self, HvError> {
        let size = geometry.bytes();
        let len = usize::try_from(size * 2)
            .map_err(|_| HvError::Unsupported("a hash table larger than the address space"))?;
        // SAFETY: a fresh anonymous private mapping; no existing memory is touched.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(HvError::Ioctl {
                op: "mmap of the hash table",
                source: std::io::Error::last_os_error(),
            });
        }
        let start = p as u64;
        let base = align_up(start, size).expect("an aligned address inside the mapping");
        let head = (base - start) as usize;
        let tail = len - head - size as usize;
        // SAFETY: both ranges lie inside the mapping made above and outside [base, base+size).
        unsafe {
            if head > 0 {
                libc::munmap(p, head);
            }
            if tail > 0 {
                libc::munmap((base + size) as *mut libc::c_void, tail);
            }
        }
        Ok(Self { base, geometry })
    }

    /// SDR1 for this table: its userspace address and HTABSIZE.
    pub fn sdr1(&self) -> u64 {
        self.geometry.sdr1(self.base)
    }

    /// Its size.
    pub fn geometry(&self) -> HtabGeometry {
        self.geometry
    }
}

impl Drop for UserHtab {
    fn drop(&mut self) {
        // SAFETY: the range is the mapping `new` kept; nothing borrows it past `self`.
        unsafe {
            libc::munmap(
                self.base as *mut libc::c_void,
                self.geometry.bytes() as usize,
            )
        };
    }
}

/// The hash table of a VM, where [`crate::mmu::plan::plan_mmu`] put it.
#[derive(Debug)]
pub enum Htab {
    /// KVM allocated it (`KVM_PPC_ALLOCATE_HTAB`).
    Kernel(HtabGeometry),
    /// tetra's, SDR1 on every vCPU.
    User(UserHtab),
}

impl Htab {
    /// Allocates the table of `geometry` at `home`.
    pub fn allocate(vm: &PpcVm, geometry: HtabGeometry, home: HtabHome) -> Result<Self, HvError> {
        match home {
            HtabHome::Kernel => {
                let mut order: u32 = geometry.order();
                // SAFETY: `order` is a live u32 the kernel reads and may update.
                let r =
                    unsafe { ioctl_with_mut_ref(vm.fd(), KVM_PPC_ALLOCATE_HTAB as _, &mut order) };
                if r < 0 {
                    return Err(HvError::last("KVM_PPC_ALLOCATE_HTAB"));
                }
                Ok(Htab::Kernel(HtabGeometry::new(order).map_err(|_| {
                    HvError::Unsupported("the hash table size KVM_PPC_ALLOCATE_HTAB returned")
                })?))
            }
            HtabHome::User => Ok(Htab::User(UserHtab::new(geometry)?)),
        }
    }

    /// The table in tetra's memory, for the hypercalls KVM-PR leaves to userspace.
    pub fn user(&self) -> Option<&UserHtab> {
        match self {
            Htab::Kernel(_) => None,
            Htab::User(t) => Some(t),
        }
    }

    /// Its size (KVM's may differ from the one asked for).
    pub fn geometry(&self) -> HtabGeometry {
        match self {
            Htab::Kernel(g) => *g,
            Htab::User(t) => t.geometry(),
        }
    }

    /// The SDR1 every vCPU needs (a user table), else `None`.
    pub fn sdr1(&self) -> Option<u64> {
        match self {
            Htab::Kernel(_) => None,
            Htab::User(t) => Some(t.sdr1()),
        }
    }
}

impl UserHtab {
    /// The entry words at `index` (< entries): the V and R doublewords' addresses.
    fn words(&self, index: u64) -> (*mut u64, *mut u64) {
        debug_assert!(index < self.geometry.entries());
        let at = (self.base + index * 16) as *mut u64;
        // SAFETY: `index` is inside the table, so both doublewords are in the mapping.
        (at, unsafe { at.add(1) })
    }
}

impl UserHtab {
    /// Makes the table `state`'s: every entry invalid (zero), then its entries written. The
    /// vCPUs must not run (a restore, before their registers); `state` was checked against
    /// this table ([`HtabState::check`]: the same size, so every index is inside).
    pub fn restore(&self, state: &HtabState) {
        debug_assert_eq!(state.order, self.geometry.order());
        // Dropping the pages zeroes a private anonymous mapping without touching (and so
        // allocating) the pages no entry lands in.
        // SAFETY: the whole mapping `new` kept; nothing holds a reference into it, and no vCPU
        // reads it meanwhile.
        let r = unsafe {
            libc::madvise(
                self.base as *mut libc::c_void,
                self.geometry.bytes() as usize,
                libc::MADV_DONTNEED,
            )
        };
        if r != 0 {
            // SAFETY: as above; the mapping is writable.
            unsafe {
                std::ptr::write_bytes(self.base as *mut u8, 0, self.geometry.bytes() as usize)
            };
        }
        self.apply(state);
    }

    /// Writes `state`'s entries into the table as they are (a zero entry clears one): a
    /// migration's changes ([`crate::snapshot::htab::HtabSection::Changes`]) on top of what came
    /// before. The vCPUs must not run; `state` was checked against this table.
    pub fn apply(&self, state: &HtabState) {
        debug_assert_eq!(state.order, self.geometry.order());
        for (index, e) in &state.entries {
            if *index >= self.geometry.entries() {
                continue;
            }
            let (v, r) = self.words(*index);
            // SAFETY: `index` is inside the table: both doublewords are in the mapping,
            // 8-byte aligned.
            unsafe {
                std::ptr::write_volatile(r, e.r.to_be());
                std::ptr::write_volatile(v, e.v.to_be());
            }
        }
    }
}

impl HptWords for UserHtab {
    fn entries(&self) -> u64 {
        self.geometry.entries()
    }

    fn load(&self, index: u64) -> (u64, u64) {
        let (v, r) = self.words(index);
        // SAFETY: both point into the live mapping, 8-byte aligned; KVM-PR writes the table
        // from vCPU threads (put_user), so each doubleword is read once, as a whole.
        unsafe {
            (
                u64::from_be(std::ptr::read_volatile(v)),
                u64::from_be(std::ptr::read_volatile(r)),
            )
        }
    }

    fn store_r(&self, index: u64, r: u64) {
        let (_, at) = self.words(index);
        // SAFETY: as in `load`; one aligned doubleword store.
        unsafe { std::ptr::write_volatile(at, r.to_be()) };
    }
}

/// A migration's view of the table in tetra's memory: at the source, what its pre-copy passes
/// have sent ([`HtabTracker`]); at the destination, whether the first pass arrived (changes
/// apply only on top of it).
#[derive(Debug, Default)]
pub struct HtabMigration {
    sent: Mutex<Option<HtabTracker>>,
    received: AtomicBool,
}

impl HtabMigration {
    /// Runs `f` on the source's tracker slot.
    pub fn with_tracker<T>(&self, f: impl FnOnce(&mut Option<HtabTracker>) -> T) -> T {
        f(&mut self.sent.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The destination received the first pass.
    pub fn set_received(&self) {
        self.received.store(true, Ordering::Release);
    }

    /// Whether the destination received the first pass.
    pub fn received(&self) -> bool {
        self.received.load(Ordering::Acquire)
    }
}
