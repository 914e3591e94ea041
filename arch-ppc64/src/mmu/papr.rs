//! The page-table hypercalls KVM-PR leaves to userspace: `H_READ`, `H_CLEAR_REF` and
//! `H_CLEAR_MOD` (its `kvmppc_h_pr` serves `H_ENTER`, `H_REMOVE`, `H_PROTECT` and
//! `H_BULK_REMOVE` itself, on the table SDR1 points at). They work on the table in tetra's
//! memory through [`HptWords`], as QEMU's `h_read`, `h_clear_ref` and `h_clear_mod` do.
//!
//! `H_READ(flags, ptex)`: the entry (or, with `H_READ_4`, the aligned group of four) as
//! `(V, R)` doubleword pairs in r4..r11. `H_CLEAR_REF` / `H_CLEAR_MOD(flags, ptex)`: the entry's
//! old R doubleword in r4, its R (referenced) or C (changed) bit cleared in the table.

use crate::hcall::{H_PARAMETER, H_SUCCESS};

/// `H_READ_4`: read four entries.
pub const H_READ_4: u64 = 1 << (63 - 26);
/// `H_NOT_FOUND`: no valid entry there.
pub const H_NOT_FOUND: i64 = -5;
/// HPTE V doubleword: valid.
pub const HPTE_V_VALID: u64 = 1;
/// HPTE R doubleword: referenced.
pub const HPTE_R_R: u64 = 0x100;
/// HPTE R doubleword: changed.
pub const HPTE_R_C: u64 = 0x80;

/// A hash table's entries as the hypercalls read and write them (values, not bytes).
pub trait HptWords {
    /// Number of entries.
    fn entries(&self) -> u64;
    /// Entry `index`'s V and R doublewords (`index` < [`HptWords::entries`]).
    fn load(&self, index: u64) -> (u64, u64);
    /// Writes entry `index`'s R doubleword.
    fn store_r(&self, index: u64, r: u64);
}

/// `H_READ(flags, ptex)`; results in `out` (r4..).
pub fn h_read(t: &dyn HptWords, flags: u64, ptex: u64, out: &mut [u64; 9]) -> i64 {
    if ptex >= t.entries() {
        return H_PARAMETER;
    }
    let (first, n) = if flags & H_READ_4 != 0 {
        (ptex & !3, 4)
    } else {
        (ptex, 1)
    };
    for i in 0..n {
        let (v, r) = t.load(first + i);
        out[2 * i as usize] = v;
        out[2 * i as usize + 1] = r;
    }
    H_SUCCESS
}

/// `H_CLEAR_REF` (`bit` = [`HPTE_R_R`]) or `H_CLEAR_MOD` (`bit` = [`HPTE_R_C`]) on `ptex`; the
/// old R doubleword in `out[0]`.
pub fn h_clear_bit(t: &dyn HptWords, bit: u64, ptex: u64, out: &mut [u64; 9]) -> i64 {
    if ptex >= t.entries() {
        return H_PARAMETER;
    }
    let (v, r) = t.load(ptex);
    if v & HPTE_V_VALID == 0 {
        return H_NOT_FOUND;
    }
    out[0] = r;
    if r & bit != 0 {
        t.store_r(ptex, r & !bit);
    }
    H_SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Table(Mutex<Vec<(u64, u64)>>);

    impl HptWords for Table {
        fn entries(&self) -> u64 {
            self.0.lock().unwrap().len() as u64
        }
        fn load(&self, index: u64) -> (u64, u64) {
            self.0.lock().unwrap()[index as usize]
        }
        fn store_r(&self, index: u64, r: u64) {
            self.0.lock().unwrap()[index as usize].1 = r;
        }
    }

    fn table() -> Table {
        Table(Mutex::new(
            (0..16u64)
                .map(|i| (i << 7 | (i & 1), i << 12 | 0x180))
                .collect(),
        ))
    }

    #[test]
    fn h_read_gives_one_entry_or_the_aligned_four() {
        let t = table();
        let mut out = [0; 9];
        assert_eq!(h_read(&t, 0, 5, &mut out), H_SUCCESS);
        assert_eq!(out[..2], [5 << 7 | 1, 5 << 12 | 0x180]);
        assert_eq!(h_read(&t, H_READ_4, 6, &mut out), H_SUCCESS);
        assert_eq!(out[0], 4 << 7);
        assert_eq!(out[6], 7 << 7 | 1);
        assert_eq!(h_read(&t, 0, 16, &mut out), H_PARAMETER);
    }

    #[test]
    fn clear_ref_and_mod_return_the_old_r_and_clear_one_bit() {
        let t = table();
        let mut out = [0; 9];
        assert_eq!(h_clear_bit(&t, HPTE_R_R, 3, &mut out), H_SUCCESS);
        assert_eq!(out[0], 3 << 12 | 0x180);
        assert_eq!(t.load(3).1, 3 << 12 | 0x80);
        assert_eq!(h_clear_bit(&t, HPTE_R_C, 3, &mut out), H_SUCCESS);
        assert_eq!(out[0], 3 << 12 | 0x80);
        assert_eq!(t.load(3).1, 3 << 12);
        assert_eq!(h_clear_bit(&t, HPTE_R_R, 2, &mut out), H_NOT_FOUND);
        assert_eq!(h_clear_bit(&t, HPTE_R_R, 99, &mut out), H_PARAMETER);
    }
}
