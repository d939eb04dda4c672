//! The views and the `:` command line: names, short aliases, unique prefixes and completion.

/// Which view fills the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Agents,
    Runs,
    Compare,
    Models,
    Datasets,
    Events,
    Rollouts,
    /// Fleet health, deployments, active rollouts, recent decisions.
    Overview,
    /// Every served version's columns, worst drift first.
    Drift,
    Alerts,
}

/// Every view, in the order of the number keys and Tab.
pub const VIEWS: [View; 10] = [
    View::Agents,
    View::Runs,
    View::Compare,
    View::Models,
    View::Datasets,
    View::Events,
    View::Rollouts,
    View::Overview,
    View::Drift,
    View::Alerts,
];

/// What `:` accepts: view names, `:train SPEC`, `:quit` and the verbs of [`super::verbs`].
const COMMANDS: &[&str] = &[
    "agents", "runs", "compare", "models", "datasets", "events", "rollouts", "overview", "drift",
    "alerts", "train", "quit",
];

impl View {
    /// The `:name` that opens the view.
    pub fn name(self) -> &'static str {
        match self {
            View::Agents => "agents",
            View::Runs => "runs",
            View::Compare => "compare",
            View::Models => "models",
            View::Datasets => "datasets",
            View::Events => "events",
            View::Rollouts => "rollouts",
            View::Overview => "overview",
            View::Drift => "drift",
            View::Alerts => "alerts",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "a" | "agent" => Some(View::Agents),
            "r" | "run" => Some(View::Runs),
            "c" | "cmp" => Some(View::Compare),
            "m" | "model" => Some(View::Models),
            "d" | "dataset" | "data" => Some(View::Datasets),
            "e" | "event" => Some(View::Events),
            "ro" | "rollout" => Some(View::Rollouts),
            "o" | "ov" => Some(View::Overview),
            "dr" => Some(View::Drift),
            "al" | "alert" => Some(View::Alerts),
            _ => VIEWS.into_iter().find(|v| v.name() == text),
        }
    }
}

/// The commands `word` is a prefix of.
fn completions(word: &str) -> Vec<&'static str> {
    COMMANDS
        .iter()
        .chain(super::verbs::VERBS)
        .copied()
        .filter(|c| c.starts_with(word))
        .collect()
}

/// `word` as a whole command: itself, a short alias, or the one command it is a prefix of.
pub fn resolve(word: &str) -> Result<&str, String> {
    if COMMANDS.contains(&word)
        || super::verbs::VERBS.contains(&word)
        || View::parse(word).is_some()
        || word == "q"
    {
        return Ok(word);
    }
    match completions(word).as_slice() {
        [one] => Ok(one),
        [] => Err(format!(
            "unknown command :{word} (try :overview :agents :runs :compare :models :datasets :events :rollouts, :train SPEC)"
        )),
        many => Err(format!(":{word} could be :{}", many.join(" :"))),
    }
}

/// The command line completed to the longest prefix its candidates share (and a space when
/// only one is left); `None` when nothing matches or the word is already done.
pub fn complete(input: &str) -> Option<String> {
    if input.contains(' ') {
        return None;
    }
    let candidates = completions(input);
    let first = candidates.first()?;
    let shared = candidates.iter().fold(first.len(), |n, c| {
        first
            .chars()
            .zip(c.chars())
            .take(n)
            .take_while(|(a, b)| a == b)
            .count()
    });
    let mut completed = first[..shared].to_string();
    if candidates.len() == 1 {
        completed.push(' ');
    }
    Some(completed)
}
