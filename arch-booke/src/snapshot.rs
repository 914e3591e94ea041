//! The migration serializer: TLB geometry and array, MPIC and BookE registers.
