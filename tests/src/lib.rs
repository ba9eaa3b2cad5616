//! system-tests (scaffold)
