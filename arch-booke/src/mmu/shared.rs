//! The TLB array shared with KVM (KVM_CAP_SW_TLB), and the protocol around `KVM_RUN`.
//!
//! Seed 000 (the design thread behind the API): keep "qemu's internal representation == shared
//! data with kvm"; "From kernel to user space ... after every RUN, all fields can be modified";
//! "From user space to kernel, we could modify the entries directly and then pass in an ioctl
//! that passes in a dirty bitmap"; and "give a hint on the amount of flushes, so KVM can
//! implement some threshold". api.rst: "While KVM_RUN is active, the shared region is under
//! control of KVM"; userspace "must call KVM_DIRTY_TLB ... prior to calling KVM_RUN again".
//!
//! [`SharedTlb`] models that: the array lives at a fixed heap address handed to KVM once
//! ([`SharedTlb::config`]); userspace writes go through [`SharedTlb::write`], which marks the
//! dirty bitmap; [`SharedTlb::enter`] is the only way to run the vCPU: it pushes the bitmap
//! first, gives the array to the kernel for the run, and afterwards bumps the generation. Every
//! read borrows the `SharedTlb`, so nothing read before a run can be used after it (the borrow
//! checker refuses; see the `compile_fail` example on `enter`).

use super::array::{ArrayError, TlbArray, TlbStore};
use super::dirty::DirtyBitmap;
use super::geometry::{Tlb, TlbGeometry};
use crate::abi::{
    kvm_book3e_206_tlb_entry, kvm_book3e_206_tlb_params, kvm_config_tlb, kvm_dirty_tlb,
    KVM_MMU_FSL_BOOKE_HV, KVM_MMU_FSL_BOOKE_NOHV,
};
use std::marker::PhantomData;
use std::ptr::NonNull;
use thiserror::Error;

/// Errors of the shared TLB.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SharedError {
    /// An MMU type KVM does not define.
    #[error("unknown KVM MMU type {0} (expected 0 = FSL_BOOKE_NOHV or 1 = FSL_BOOKE_HV)")]
    UnknownMmuType(u32),
    /// Restoring an image of a different geometry.
    #[error("TLB image geometry {image} does not match the configured geometry {configured}")]
    GeometryMismatch {
        /// The image's geometry.
        image: TlbGeometry,
        /// The shared array's geometry.
        configured: TlbGeometry,
    },
    /// An array access failed.
    #[error("shared TLB access failed")]
    Array(#[source] ArrayError),
}

/// The MMU type of `kvm_config_tlb`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MmuType {
    /// `KVM_MMU_FSL_BOOKE_NOHV` (e500v2 class): KVM emulates every TLB write.
    NoHv,
    /// `KVM_MMU_FSL_BOOKE_HV` (e500mc class): hardware may fill TLB0 behind the shared array.
    Hv,
}

impl MmuType {
    /// The `mmu_type` value.
    pub fn kvm_value(self) -> u32 {
        match self {
            MmuType::NoHv => KVM_MMU_FSL_BOOKE_NOHV,
            MmuType::Hv => KVM_MMU_FSL_BOOKE_HV,
        }
    }

    /// From an `mmu_type` value.
    pub fn from_kvm(v: u32) -> Result<Self, SharedError> {
        match v {
            KVM_MMU_FSL_BOOKE_NOHV => Ok(MmuType::NoHv),
            KVM_MMU_FSL_BOOKE_HV => Ok(MmuType::Hv),
            v => Err(SharedError::UnknownMmuType(v)),
        }
    }

    /// Whether migration carries `tlb`: everything with NOHV; with HV only TLB1, because TLB0
    /// may hold hardware-filled entries the array never saw, so it is treated as invalidated.
    pub fn migrates(self, tlb: Tlb) -> bool {
        self == MmuType::NoHv || tlb == Tlb::Tlb1
    }
}

/// The array while KVM owns it, inside [`SharedTlb::enter`]. The real vCPU loop ignores it and
/// calls `KVM_RUN`; tests (and any in-process emulation of KVM) use it to change entries the way
/// the kernel does, without marking them dirty.
pub struct KernelOwned<'a> {
    ptr: NonNull<kvm_book3e_206_tlb_entry>,
    len: usize,
    _borrow: PhantomData<&'a mut [kvm_book3e_206_tlb_entry]>,
}

impl KernelOwned<'_> {
    /// Entries in the array.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the array is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes entry `index` as KVM would (no dirty bit).
    pub fn write(&mut self, index: usize, e: kvm_book3e_206_tlb_entry) -> Result<(), ArrayError> {
        if index >= self.len {
            return Err(ArrayError::IndexOutOfRange {
                index,
                len: self.len,
            });
        }
        // SAFETY: `index < len` and `ptr` is valid for `len` entries for the lifetime of the
        // exclusive borrow of the SharedTlb this value was made from.
        unsafe { self.ptr.as_ptr().add(index).write(e) };
        Ok(())
    }
}

/// The TLB array shared with KVM for one vCPU.
#[derive(Debug)]
pub struct SharedTlb {
    geometry: TlbGeometry,
    mmu_type: MmuType,
    params: Box<kvm_book3e_206_tlb_params>,
    /// A leaked `Box<[kvm_book3e_206_tlb_entry]>` of `len` entries (freed in Drop): the address
    /// KVM pins must never move, and KVM writes it behind Rust's back, so it is only reached
    /// through this raw pointer.
    array: NonNull<kvm_book3e_206_tlb_entry>,
    len: usize,
    dirty: DirtyBitmap,
    threshold: usize,
    generation: u64,
}

// SAFETY: SharedTlb owns its allocation exclusively (the raw pointer is never shared with other
// threads by this type); KVM's accesses happen inside ioctls issued by the owning thread.
unsafe impl Send for SharedTlb {}

impl Drop for SharedTlb {
    fn drop(&mut self) {
        let slice = std::ptr::slice_from_raw_parts_mut(self.array.as_ptr(), self.len);
        // SAFETY: `array`/`len` come from `Box::into_raw` in `new` and are freed only here.
        drop(unsafe { Box::from_raw(slice) });
    }
}

impl SharedTlb {
    /// A zeroed (all-invalid) array for `geometry`, every entry dirty.
    pub fn new(geometry: TlbGeometry, mmu_type: MmuType) -> Self {
        let boxed =
            vec![kvm_book3e_206_tlb_entry::default(); geometry.total_entries()].into_boxed_slice();
        let len = boxed.len();
        let array = NonNull::new(Box::into_raw(boxed) as *mut kvm_book3e_206_tlb_entry)
            .unwrap_or(NonNull::dangling());
        let mut dirty = DirtyBitmap::new(len);
        dirty.mark_all();
        Self {
            geometry,
            mmu_type,
            params: Box::new(geometry.params()),
            array,
            len,
            dirty,
            threshold: len / 2,
            generation: 0,
        }
    }

    /// The argument of `KVM_ENABLE_CAP(KVM_CAP_SW_TLB)`: addresses of the parameter block and of
    /// the array, valid as long as `self` lives.
    pub fn config(&self) -> kvm_config_tlb {
        kvm_config_tlb {
            params: &*self.params as *const kvm_book3e_206_tlb_params as u64,
            array: self.array.as_ptr() as u64,
            mmu_type: self.mmu_type.kvm_value(),
            array_len: self.geometry.array_len() as u32,
        }
    }

    /// The MMU type.
    pub fn mmu_type(&self) -> MmuType {
        self.mmu_type
    }

    /// How many runs the array has been through: data derived from it before a run is stale.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The dirty bitmap (what the next `KVM_DIRTY_TLB` will push).
    pub fn dirty(&self) -> &DirtyBitmap {
        &self.dirty
    }

    /// Above `n` dirty entries, every entry is flagged (KVM then flushes everything instead of
    /// walking the bitmap). Default: half the array.
    pub fn set_dirty_threshold(&mut self, n: usize) {
        self.threshold = n;
        self.apply_threshold();
    }

    fn apply_threshold(&mut self) {
        if self.dirty.count() > self.threshold {
            self.dirty.mark_all();
        }
    }

    /// All entries, in KVM's order, as of the last return from `KVM_RUN`.
    pub fn entries(&self) -> &[kvm_book3e_206_tlb_entry] {
        // SAFETY: `array` is valid and initialised for `len` entries. KVM writes it only inside
        // `enter`, which needs `&mut self`, so it cannot change while this borrow lives.
        unsafe { std::slice::from_raw_parts(self.array.as_ptr(), self.len) }
    }

    /// A copy of the whole array.
    pub fn to_array(&self) -> TlbArray {
        TlbArray::from_entries(self.geometry, self.entries().to_vec())
            .unwrap_or_else(|_| TlbArray::new(self.geometry))
    }

    /// Runs the vCPU once under the shared-TLB protocol:
    /// 1. if userspace changed entries, `push_dirty` gets the `KVM_DIRTY_TLB` argument; on
    ///    success the bitmap is cleared, on failure nothing runs and the bitmap is kept;
    /// 2. `run` issues `KVM_RUN` (the kernel owns the array meanwhile);
    /// 3. whatever `run` returns, the generation is bumped: every entry may have changed.
    ///
    /// ```compile_fail,E0502
    /// # use arch_booke::mmu::{SharedTlb, MmuType, TlbGeometry};
    /// let mut tlb = SharedTlb::new(TlbGeometry::E500MC, MmuType::Hv);
    /// let before = tlb.entries(); // a read from before the run...
    /// tlb.enter(|_| Ok::<(), ()>(()), |_| Ok(())).unwrap();
    /// let _stale = before[0]; // ...cannot be used after it
    /// ```
    pub fn enter<R, E>(
        &mut self,
        push_dirty: impl FnOnce(&kvm_dirty_tlb) -> Result<(), E>,
        run: impl FnOnce(KernelOwned<'_>) -> Result<R, E>,
    ) -> Result<R, E> {
        if self.dirty.count() > 0 {
            push_dirty(&self.dirty.kvm_dirty_tlb())?;
            self.dirty.clear();
        }
        let result = run(KernelOwned {
            ptr: self.array,
            len: self.len,
            _borrow: PhantomData,
        });
        self.generation += 1;
        result
    }

    /// The image migration carries: the whole array with NOHV; with HV, TLB1 only (TLB0 comes
    /// out invalidated).
    pub fn export(&self) -> TlbArray {
        let mut out = self.to_array();
        for tlb in Tlb::ALL {
            if !self.mmu_type.migrates(tlb) {
                let base = self.geometry.base(tlb);
                for i in base..base + self.geometry.entries(tlb) as usize {
                    // In range by construction.
                    let _ = out.write(i, kvm_book3e_206_tlb_entry::default());
                }
            }
        }
        out
    }

    /// Restores an image (same geometry): entries this MMU type does not migrate are cleared,
    /// and every entry is marked dirty.
    pub fn import(&mut self, image: &TlbArray) -> Result<(), SharedError> {
        if *image.geometry() != self.geometry {
            return Err(SharedError::GeometryMismatch {
                image: *image.geometry(),
                configured: self.geometry,
            });
        }
        for (i, e) in image.entries().iter().enumerate() {
            let keep = self
                .geometry
                .position(i)
                .is_some_and(|p| self.mmu_type.migrates(p.tlb));
            let e = if keep {
                *e
            } else {
                kvm_book3e_206_tlb_entry::default()
            };
            self.store(i, e).map_err(SharedError::Array)?;
        }
        self.dirty.mark_all();
        Ok(())
    }

    fn store(&mut self, index: usize, e: kvm_book3e_206_tlb_entry) -> Result<(), ArrayError> {
        if index >= self.len {
            return Err(ArrayError::IndexOutOfRange {
                index,
                len: self.len,
            });
        }
        // SAFETY: `index < len`; `&mut self` excludes every other access, KVM's included (it
        // only touches the array inside `enter`).
        unsafe { self.array.as_ptr().add(index).write(e) };
        Ok(())
    }
}

impl TlbStore for SharedTlb {
    fn geometry(&self) -> &TlbGeometry {
        &self.geometry
    }

    fn entry(&self, index: usize) -> Option<kvm_book3e_206_tlb_entry> {
        self.entries().get(index).copied()
    }

    /// Writes an entry and marks it dirty.
    fn write(&mut self, index: usize, e: kvm_book3e_206_tlb_entry) -> Result<(), ArrayError> {
        self.store(index, e)?;
        self.dirty.mark(index);
        self.apply_threshold();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mmu::entry::{Mapping, Perms};
    use crate::mmu::translate::{translate, Query};

    fn entry(ea: u64) -> kvm_book3e_206_tlb_entry {
        kvm_book3e_206_tlb_entry::from_mapping(&Mapping {
            ea,
            ra: ea + 0x1000_0000,
            tsize: 2,
            tid: 0,
            ts: false,
            iprot: false,
            attrs: 0,
            perms: Perms::ALL,
        })
    }

    #[test]
    fn config_points_at_params_and_array() {
        let t = SharedTlb::new(TlbGeometry::E500MC, MmuType::Hv);
        let c = t.config();
        assert_eq!(c.mmu_type, 1);
        assert_eq!(c.array_len, 576 * 24);
        assert_eq!(c.array, t.entries().as_ptr() as u64);
        // SAFETY: `params` points at the boxed parameter block owned by `t`, alive here.
        let p = unsafe { *(c.params as *const kvm_book3e_206_tlb_params) };
        assert_eq!(TlbGeometry::from_params(&p).unwrap(), TlbGeometry::E500MC);
        assert_eq!(MmuType::from_kvm(2), Err(SharedError::UnknownMmuType(2)));
    }

    #[test]
    fn run_protocol_pushes_dirty_then_runs_then_invalidates() {
        let mut t = SharedTlb::new(TlbGeometry::E500MC, MmuType::NoHv);
        // A fresh array is all dirty: the first run pushes everything.
        let mut pushed = Vec::new();
        t.enter(
            |d| {
                pushed.push(d.num_dirty);
                Ok::<(), ()>(())
            },
            |_| Ok(()),
        )
        .unwrap();
        assert_eq!(pushed, vec![576]);
        assert_eq!(t.dirty().count(), 0);
        assert_eq!(t.generation(), 1);

        // A clean array pushes nothing.
        t.enter(|_| panic!("nothing is dirty"), |_| Ok::<(), ()>(()))
            .unwrap();

        // Userspace writes are marked; the kernel's are not, and are visible after the run.
        t.write(513, entry(0x4000_0000)).unwrap();
        t.write(5, entry(0x1000)).unwrap();
        let mut seen = None;
        t.enter(
            |d| {
                // SAFETY: the bitmap of 576 bits (72 bytes) lives in `t` during this call.
                let b = unsafe { std::slice::from_raw_parts(d.bitmap as *const u8, 72) };
                seen = Some((d.num_dirty, b[0], b[64]));
                Ok::<(), ()>(())
            },
            |mut k| {
                k.write(512, entry(0x8000_0000)).unwrap();
                assert!(k.write(576, entry(0)).is_err());
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, Some((2, 1 << 5, 1 << 1)));
        assert_eq!(t.dirty().count(), 0);
        let q = Query {
            ea: 0x8000_0123,
            pid: 0,
            ts: false,
            cm: true,
            access: None,
        };
        assert_eq!(translate(&t, &q).unwrap().ra, 0x9000_0123);
    }

    #[test]
    fn failed_push_keeps_bitmap_and_skips_run() {
        let mut t = SharedTlb::new(TlbGeometry::E500MC, MmuType::NoHv);
        let r: Result<(), &str> = t.enter(|_| Err("EFAULT"), |_| panic!("must not run"));
        assert_eq!(r, Err("EFAULT"));
        assert_eq!(t.dirty().count(), 576);
        assert_eq!(t.generation(), 0);
    }

    #[test]
    fn threshold_flags_everything() {
        let mut t = SharedTlb::new(TlbGeometry::new(16, 2, 4).unwrap(), MmuType::NoHv);
        t.enter(|_| Ok::<(), ()>(()), |_| Ok(())).unwrap();
        t.set_dirty_threshold(3);
        for i in 0..3 {
            t.write(i, entry(0x1000 * i as u64)).unwrap();
            assert_eq!(t.dirty().count(), i + 1);
        }
        t.write(10, entry(0)).unwrap();
        assert_eq!(
            t.dirty().count(),
            20,
            "over the threshold everything is dirty"
        );
    }

    #[test]
    fn migration_depends_on_mmu_type() {
        for mmu in [MmuType::NoHv, MmuType::Hv] {
            let mut t = SharedTlb::new(TlbGeometry::E500MC, mmu);
            t.write(7, entry(0x1000)).unwrap();
            t.write(520, entry(0x2000_0000)).unwrap();
            let img = t.export();
            assert_eq!(img.entries()[520], entry(0x2000_0000));
            assert_eq!(img.entries()[7].valid(), mmu == MmuType::NoHv);

            let mut dst = SharedTlb::new(TlbGeometry::E500MC, mmu);
            dst.enter(|_| Ok::<(), ()>(()), |_| Ok(())).unwrap();
            // Importing a full image into HV still drops TLB0.
            dst.import(&t.to_array()).unwrap();
            assert_eq!(dst.entries()[7].valid(), mmu == MmuType::NoHv);
            assert_eq!(dst.entries()[520], entry(0x2000_0000));
            assert_eq!(dst.dirty().count(), 576);

            let other = TlbArray::new(TlbGeometry::E6500);
            assert!(matches!(
                dst.import(&other),
                Err(SharedError::GeometryMismatch { .. })
            ));
        }
    }
}
