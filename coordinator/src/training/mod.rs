//! Training: runs and their lifecycle, placement on agents, the scheduler loop, searches
//! spread over several agents, cron schedules and data triggers, and cancelled jobs still
//! stopping.

pub mod baseline;
pub mod ending;
pub mod placement;
pub mod runs;
pub mod scheduler;
pub mod schedules;
pub mod shares;
pub mod spread;
pub mod stopping;
