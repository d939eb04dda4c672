//! The `:` verbs that change state (`:promote churn@3 production`, `:alias`, `:unalias`,
//! `:remove-agent`, `:add-dataset`, `:rerun`, `:cancel`, `:rollout abort churn`): each parses into the question the
//! console asks before doing it and the work a yes starts. Nothing here runs anything.

use drover_protocol::registry::{ModelRef, Selector, Stage};

use super::action::Command;

/// The verbs, as the command line completes them.
pub const VERBS: &[&str] = &[
    "promote",
    "alias",
    "unalias",
    "remove-agent",
    "add-dataset",
    "rerun",
    "cancel",
    "rollout",
];

/// What `verb` with `args` would do: the question to confirm and the command, or why it
/// cannot be done as typed.
pub fn parse(verb: &str, args: &str) -> Result<(String, Command), String> {
    let words: Vec<&str> = args.split_whitespace().collect();
    match (verb, words.as_slice()) {
        ("promote", [reference, stage]) => {
            let model = one_version(reference)?;
            let stage = Stage::parse(stage).ok_or_else(|| {
                format!("unknown stage {stage:?}; stages: none, staging, production, archived")
            })?;
            let archives = if stage == Stage::Production {
                " (the production version, if any, is archived)"
            } else {
                ""
            };
            Ok((
                format!("promote {reference} to {stage}{archives}?"),
                Command::Promote { model, stage },
            ))
        }
        ("alias", [reference, alias]) => {
            let model = one_version(reference)?;
            Ok((
                format!("point alias {alias} at {reference}?"),
                Command::SetAlias {
                    model,
                    alias: alias.to_string(),
                },
            ))
        }
        ("unalias", [model, alias]) => Ok((
            format!("take alias {alias} off {model}?"),
            Command::RemoveAlias {
                model: model.to_string(),
                alias: alias.to_string(),
            },
        )),
        ("remove-agent", [id]) => Ok((
            format!("remove agent {id}? its certificate is refused from then on"),
            Command::RemoveAgent(id.to_string()),
        )),
        ("add-dataset", [name, path]) => Ok((
            format!("add {path} as the next version of dataset {name}?"),
            Command::AddDataset {
                name: name.to_string(),
                path: path.to_string(),
            },
        )),
        ("rerun", [id]) => Ok((
            format!("re-run {id} (same spec, dataset version and seed)?"),
            Command::Rerun(id.to_string()),
        )),
        ("cancel", [id]) => Ok((format!("cancel {id}?"), Command::CancelRun(id.to_string()))),
        ("rollout", [action, model]) => {
            use drover_protocol::rollout::Command as Rollout;
            let (command, question) = match *action {
                "pause" => (
                    Rollout::Pause,
                    format!("pause the rollout of {model} at its weights?"),
                ),
                "resume" => (Rollout::Resume, format!("resume the rollout of {model}?")),
                "promote" => (
                    Rollout::Promote,
                    format!("give {model}'s candidate all traffic now (a guard window follows)?"),
                ),
                "abort" => (
                    Rollout::Abort,
                    format!("abort the rollout of {model}, all traffic back on its baseline?"),
                ),
                _ => return Err(format!(":rollout takes {}", usage(verb))),
            };
            Ok((
                question,
                Command::Rollout {
                    model: model.to_string(),
                    command,
                },
            ))
        }
        _ => Err(format!(":{verb} takes {}", usage(verb))),
    }
}

/// The arguments `verb` takes.
fn usage(verb: &str) -> &'static str {
    match verb {
        "promote" => "MODEL@N STAGE, e.g. :promote churn@3 production",
        "alias" => "MODEL@N ALIAS, e.g. :alias churn@3 champion",
        "unalias" => "MODEL ALIAS, e.g. :unalias churn champion",
        "remove-agent" => "an agent id (or a unique prefix)",
        "add-dataset" => "NAME PATH, e.g. :add-dataset churn data/churn.csv",
        "rollout" => "pause|resume|promote|abort MODEL, e.g. :rollout abort churn",
        _ => "a run id (or a unique prefix)",
    }
}

/// `text` as a reference to one numbered version: changing stages or aliases never guesses.
fn one_version(text: &str) -> Result<ModelRef, String> {
    let model: ModelRef = text.parse()?;
    match model.selector {
        Selector::Number(_) => Ok(model),
        _ => Err(format!(
            "{text}: name one version, MODEL@N (the Models view lists them)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_say_what_they_will_do_or_what_they_take() {
        let (question, command) = parse("promote", "churn@3 production").expect("parses");
        assert_eq!(
            question,
            "promote churn@3 to production (the production version, if any, is archived)?"
        );
        assert!(matches!(
            command,
            Command::Promote {
                stage: Stage::Production,
                ..
            }
        ));
        let refused = parse("promote", "churn production").expect_err("no version");
        assert!(refused.contains("MODEL@N"), "{refused}");
        let refused = parse("promote", "churn@3 prod").expect_err("bad stage");
        assert!(refused.contains("staging, production"), "{refused}");
        let refused = parse("add-dataset", "churn").expect_err("no path");
        assert!(refused.contains("NAME PATH"), "{refused}");
        assert_eq!(
            parse("remove-agent", "ag-12").map(|(_, c)| c),
            Ok(Command::RemoveAgent("ag-12".into()))
        );
    }
}
