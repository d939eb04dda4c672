//! Hysteresis: a condition fires only after it held for `fire_after` evaluations in a row,
//! and resolves only after it was clear for `resolve_after`, so a flapping column alerts
//! once. Inconclusive evaluations change nothing.

/// What an evaluation changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Fire,
    Resolve,
}

/// One condition's run of evaluations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hysteresis {
    bad: u32,
    good: u32,
}

impl Hysteresis {
    /// Takes one evaluation (`None` when inconclusive) of a condition that is `firing` now.
    pub fn observe(
        &mut self,
        bad: Option<bool>,
        firing: bool,
        fire_after: u32,
        resolve_after: u32,
    ) -> Option<Change> {
        match bad? {
            true => {
                self.bad += 1;
                self.good = 0;
                (!firing && self.bad >= fire_after).then_some(Change::Fire)
            }
            false => {
                self.good += 1;
                self.bad = 0;
                (firing && self.good >= resolve_after).then_some(Change::Resolve)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flapping_condition_fires_once_and_resolves_only_when_clear_for_long() {
        let mut h = Hysteresis::default();
        let mut firing = false;
        let mut changes = Vec::new();
        let seq = [
            Some(true),
            Some(false),
            Some(true),
            Some(true),
            None,
            Some(false),
            Some(true),
            Some(false),
            Some(false),
            Some(false),
        ];
        for bad in seq {
            if let Some(change) = h.observe(bad, firing, 2, 3) {
                firing = change == Change::Fire;
                changes.push(change);
            }
        }
        assert_eq!(changes, [Change::Fire, Change::Resolve]);
    }
}
