//! drover-ml: the pure, deterministic core of drover's machine learning. No I/O, no async:
//! every function here is a computation on values, so the coordinator (which never links a
//! learner) and agents (which train with linfa) share one definition of each.
//!
//! - [`metric`]: the metric catalogue: direction, selection metric, display.
//! - [`score`]: classification and regression metrics from predictions.
//! - [`search`]: hyperparameter candidates, the best trial, seeded splits and folds.
//! - [`gates`]: which metrics a spec may gate on, and gate verdicts.
//! - [`paired`]: the paired exact test against production.
//! - [`drift`]: drift statistics, reference profiles, calibrated thresholds, comparisons.
//! - [`fairness`]: differences across the groups of a sensitive column.
//! - [`sequential`]: always-valid comparisons of rates, for rollouts.
//! - [`table`]: reading a CSV into typed columns.
//! - [`profile`]: per-column profiles of a table.
//! - [`scan`]: validating and profiling a CSV file as a stream, in bounded memory.

pub mod drift;
pub mod fairness;
pub mod gates;
pub mod lines;
pub mod metric;
pub mod paired;
pub mod profile;
pub mod scan;
pub mod score;
pub mod search;
pub mod sequential;
pub mod table;
