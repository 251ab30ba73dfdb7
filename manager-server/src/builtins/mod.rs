//! The built-in types every server hosts (Python's SyncManager set).

use crate::registry::Registry;

/// Registers every built-in type.
pub(crate) fn register_all(_registry: &mut Registry) {}
