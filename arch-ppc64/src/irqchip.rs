//! XICS interrupt controller state.
