//! Placeholder for the public API; filled by the scheduler core.
