//! The migration serializer for arm64 vCPU and GIC state.
