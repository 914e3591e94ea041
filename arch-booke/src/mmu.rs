//! The software TLB shared with KVM (KVM_CAP_SW_TLB): geometry, array, guest TLB operations, dirty bitmap.
