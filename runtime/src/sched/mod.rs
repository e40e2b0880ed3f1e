//! The scheduler: goroutines (G), threads (M) and processors (P), after Go's `proc.go`.

pub(crate) mod api;
pub(crate) mod futex;
pub(crate) mod lock;
pub(crate) mod note;
