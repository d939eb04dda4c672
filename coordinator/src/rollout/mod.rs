//! Rollouts: the coordinator moves a model's traffic from its deployed version to a
//! candidate by itself, promoting a better one and rolling back a worse one.
//!
//! - [`machine`]: the pure core, `(rollout, observation, now) -> (rollout, decisions)`.
//! - [`moves`]: the moves strategies share; [`observation`]: what the analysis looks at.
//! - [`canary`], [`ab`], [`shadow`], [`bluegreen`]: each strategy's rules.
//! - [`analysis`]: the candidate against the baseline, with always-valid tests
//!   ([`agreement`]: an agent whose windows disagree with the others' is left out).
//! - [`controller`]: the shell: reads windows, persists decisions, sends weights
//!   ([`acting`]: what a decision does beyond the store).
//! - [`recovery`]: what an ended rollout implies, done again after a crash.

pub mod ab;
pub mod acting;
pub mod agreement;
pub mod analysis;
pub mod bluegreen;
pub mod canary;
pub mod controller;
pub mod machine;
pub mod moves;
pub mod observation;
pub mod recovery;
pub mod shadow;
#[cfg(test)]
mod start_tests;
#[cfg(test)]
mod tests;
