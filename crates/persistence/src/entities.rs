//! sea-orm entities, one module per table. They never leave this crate.

pub mod lease;
