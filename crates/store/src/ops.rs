//! Operations that combine storage with scoring.
