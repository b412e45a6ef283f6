//! The test IdP lives in the crate behind its `testing` feature, so the API's tests use it
//! too.

pub use castellan_sso::testing::*;
