//! Guest physical map of a pseries VM.
