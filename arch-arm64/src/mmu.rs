//! Stage-1 translation table walker, for debugging.
