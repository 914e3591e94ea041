//! The hashed page table of a hash-MMU guest ([`crate::mmu::plan`]): KVM's
//! (`KVM_PPC_ALLOCATE_HTAB`) or, on KVM-PR, a zeroed anonymous mapping of tetra's own, aligned
//! to its size, whose address each vCPU's SDR1 carries.

use crate::mmu::htab::abi::{htab_fd_request, KVM_PPC_ALLOCATE_HTAB, KVM_PPC_GET_HTAB_FD};
use crate::mmu::htab::{codec, passes, Endian, Record};
use crate::mmu::papr::HptWords;
use crate::mmu::plan::align_up;
use crate::mmu::{HtabGeometry, HtabHome};
use crate::snapshot::htab::HtabSnapshotError;
use crate::snapshot::htab::HtabTracker;
use crate::snapshot::HtabState;
use kvm_ppc::PpcVm;
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use vmm_core::hypervisor::HvError;
use vmm_sys_util::ioctl::{ioctl_with_mut_ref, ioctl_with_ref};

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

/// The header byte order of KVM's stream: the host's.
const HOST_ENDIAN: Endian = if cfg!(target_endian = "little") {
    Endian::Little
} else {
    Endian::Big
};

/// KVM's own table (KVM-HV on a hash host) through a `KVM_PPC_GET_HTAB_FD` file: read, its
/// first pass is every entry and each later pass the entries modified since; written, its
/// records enter and clear entries (the vCPUs must not run).
#[derive(Debug)]
pub struct KernelHtabFd {
    file: std::fs::File,
    geometry: HtabGeometry,
}

impl KernelHtabFd {
    /// Opens the table's stream for reading or, with `write`, for writing.
    pub fn open(
        vm: &PpcVm,
        geometry: HtabGeometry,
        write: bool,
    ) -> Result<Self, HtabSnapshotError> {
        let request = htab_fd_request(write);
        // SAFETY: `request` is a live struct kvm_get_htab_fd the kernel only reads.
        let fd = unsafe { ioctl_with_ref(vm.fd(), KVM_PPC_GET_HTAB_FD as _, &request) };
        if fd < 0 {
            return Err(HtabSnapshotError::KernelIo {
                op: "opening",
                source: std::io::Error::last_os_error(),
            });
        }
        // SAFETY: the ioctl returned a new file descriptor that nothing else owns.
        let file = unsafe { std::fs::File::from_raw_fd(fd) };
        Ok(Self { file, geometry })
    }

    /// Reads one pass: reads until one returns nothing, or one starts below where the last
    /// ended (the kernel wrapped round to the table's start, a new pass), or the bytes read
    /// could have described the whole table twice (a guest changing entries faster than they
    /// are read: the rest is the next pass's). Each read's records are checked as they come.
    pub fn read_pass(&mut self) -> Result<Vec<Vec<Record>>, HtabSnapshotError> {
        let g = self.geometry;
        // A whole table at its longest: every other entry valid, a record each (24 bytes).
        let limit = g.entries().saturating_mul(24 * 2);
        let mut buf = vec![0u8; 1 << 20];
        let mut reads: Vec<Vec<Record>> = Vec::new();
        let mut total = 0u64;
        loop {
            let n = match self.file.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(HtabSnapshotError::KernelIo {
                        op: "reading",
                        source,
                    })
                }
            };
            if n == 0 {
                return Ok(reads);
            }
            let records = codec::decode(&buf[..n], g, HOST_ENDIAN)
                .map_err(HtabSnapshotError::KernelStream)?;
            let wrapped = match (reads.last().and_then(|r| r.last()), records.first()) {
                (Some(last), Some(first)) => u64::from(first.index) < last.end(),
                _ => false,
            };
            let ended = records.last().is_some_and(|r| r.end() == g.entries());
            reads.push(records);
            total += n as u64;
            if wrapped || ended || total >= limit {
                return Ok(reads);
            }
        }
    }

    /// Writes `records` into the table (checked, then encoded as one write per 4096 records).
    pub fn write(&mut self, records: &[Record]) -> Result<(), HtabSnapshotError> {
        for chunk in records.chunks(4096) {
            let bytes = codec::encode(self.geometry, chunk, HOST_ENDIAN)
                .map_err(HtabSnapshotError::KernelStream)?;
            self.file
                .write_all(&bytes)
                .map_err(|source| HtabSnapshotError::KernelIo {
                    op: "writing",
                    source,
                })?;
        }
        Ok(())
    }

    /// Every valid entry of the table (a new fd's first pass), for a snapshot.
    pub fn capture(vm: &PpcVm, geometry: HtabGeometry) -> Result<HtabState, HtabSnapshotError> {
        let reads = Self::open(vm, geometry, false)?.read_pass()?;
        Ok(HtabState {
            order: geometry.order(),
            entries: passes::entries_of(&reads, true),
        })
    }

    /// Enters `state`'s entries (a zero one clears) into the table; the vCPUs must not run.
    pub fn apply(
        vm: &PpcVm,
        geometry: HtabGeometry,
        state: &HtabState,
    ) -> Result<(), HtabSnapshotError> {
        Self::open(vm, geometry, true)?.write(&passes::records_of(&state.entries))
    }
}

/// A migration's view of the hash table: at the source, what its pre-copy passes have sent
/// ([`HtabTracker`] for a table in tetra's memory; for KVM's, the read fd whose later passes
/// are the modified entries); at the destination, whether the first pass arrived (changes
/// apply only on top of it).
#[derive(Debug, Default)]
pub struct HtabMigration {
    sent: Mutex<Option<HtabTracker>>,
    kernel: Mutex<Option<KernelHtabFd>>,
    received: AtomicBool,
    /// The source's final pass went out: the stop-and-copy state that follows leaves the table
    /// to it, and does not read it again.
    final_sent: AtomicBool,
}

impl HtabMigration {
    /// Runs `f` on the source's tracker slot.
    pub fn with_tracker<T>(&self, f: impl FnOnce(&mut Option<HtabTracker>) -> T) -> T {
        f(&mut self.sent.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Runs `f` on the source's slot for KVM's stream.
    pub fn with_kernel_fd<T>(&self, f: impl FnOnce(&mut Option<KernelHtabFd>) -> T) -> T {
        f(&mut self.kernel.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The destination received the first pass.
    pub fn set_received(&self) {
        self.received.store(true, Ordering::Release);
    }

    /// Whether the destination received the first pass.
    pub fn received(&self) -> bool {
        self.received.load(Ordering::Acquire)
    }

    /// The source's final pass was taken ([`HtabMigration::take_final_sent`] then says so once),
    /// or with `false`, the migration was cancelled.
    pub fn set_final_sent(&self, sent: bool) {
        self.final_sent.store(sent, Ordering::Release);
    }

    /// Whether the final pass was taken since the last call: the state being saved is a
    /// migration's stop-and-copy, whose table the final pass carries.
    pub fn take_final_sent(&self) -> bool {
        self.final_sent.swap(false, Ordering::AcqRel)
    }
}
