//! Operating a coordinator's data dir: [`backup`] and [`restore`] (one archive with the store
//! and the PKI, artifacts listed by hash) and [`doctor`] (checks with what to fix).

pub mod archive;
pub mod backup;
pub mod doctor;
pub mod restore;
