//! The migration serializer: HTAB stream, XICS, SPRs.
