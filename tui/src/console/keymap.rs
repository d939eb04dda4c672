//! Keys as data: one table of (mode, action, keys, description) drives both dispatch and the
//! `?` overlay, so the help can never disagree with what keys do. `[keys]` in the config file
//! rebinds an action by name (`compare_marked = "C"`, `select_next = ["j", "down"]`); a key
//! bound twice in one mode is reported when the console starts. k9s and lazygit conventions.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::Action;

/// What keys currently do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    Command,
    Filter,
    Help,
    Form,
    /// A describe pane is open.
    Describe,
    /// An action waits for a yes or no.
    Confirm,
}

/// A key as the table and `[keys]` write it: `q`, `G`, `ctrl-c`, `enter`, `pgdn`, `1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    code: KeyCode,
    ctrl: bool,
}

impl Key {
    /// The key an event stands for (Shift is part of the character itself).
    pub fn of(event: KeyEvent) -> Self {
        let ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
        Self {
            code: event.code,
            ctrl,
        }
    }
}

const NAMED: &[(&str, KeyCode)] = &[
    ("enter", KeyCode::Enter),
    ("esc", KeyCode::Esc),
    ("tab", KeyCode::Tab),
    ("backtab", KeyCode::BackTab),
    ("backspace", KeyCode::Backspace),
    ("up", KeyCode::Up),
    ("down", KeyCode::Down),
    ("left", KeyCode::Left),
    ("right", KeyCode::Right),
    ("home", KeyCode::Home),
    ("end", KeyCode::End),
    ("pgup", KeyCode::PageUp),
    ("pgdn", KeyCode::PageDown),
    ("space", KeyCode::Char(' ')),
];

impl FromStr for Key {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (ctrl, rest) = match text.strip_prefix("ctrl-") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let code = match NAMED.iter().find(|(name, _)| *name == rest) {
            Some((_, code)) => *code,
            None => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => KeyCode::Char(c),
                    _ => {
                        return Err(format!(
                            "{text:?} is not a key (e.g. x, G, ctrl-x, enter, pgdn)"
                        ));
                    }
                }
            }
        };
        Ok(Self { code, ctrl })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("ctrl-")?;
        }
        match NAMED.iter().find(|(_, code)| *code == self.code) {
            Some((name, _)) => f.write_str(name),
            None => match self.code {
                KeyCode::Char(c) => write!(f, "{c}"),
                other => write!(f, "{other:?}"),
            },
        }
    }
}

/// One row of the table: in `mode`, any of `keys` does `action`.
#[derive(Debug, Clone)]
pub struct Binding {
    pub mode: Mode,
    /// The name `[keys]` rebinds it by.
    pub name: &'static str,
    pub keys: Vec<Key>,
    pub action: Action,
    /// What the `?` overlay says it does.
    pub help: &'static str,
}

use Mode::{Command, Confirm, Describe, Filter, Form, Help, Normal};

/// The default table, in the order the help lists it.
const DEFAULTS: &[(Mode, &str, &str, Action, &str)] = &[
    (
        Normal,
        "open_command_line",
        ":",
        Action::OpenCommandLine,
        "command: :runs, :ru, :train SPEC (Tab completes)",
    ),
    (Normal, "next_view", "tab", Action::NextView, "next view"),
    (
        Normal,
        "previous_view",
        "backtab",
        Action::PreviousView,
        "previous view",
    ),
    (
        Normal,
        "go_to_view",
        "1 2 3 4 5 6 7 8 9 0",
        Action::GoToView(0),
        "go to view (agents, runs ... drift, alerts)",
    ),
    (
        Normal,
        "select_next",
        "j down",
        Action::SelectNext,
        "move down",
    ),
    (
        Normal,
        "select_previous",
        "k up",
        Action::SelectPrevious,
        "move up",
    ),
    (
        Normal,
        "page_down",
        "pgdn ctrl-d",
        Action::PageDown,
        "a page down",
    ),
    (
        Normal,
        "page_up",
        "pgup ctrl-u",
        Action::PageUp,
        "a page up",
    ),
    (
        Normal,
        "select_first",
        "g home",
        Action::SelectFirst,
        "first row",
    ),
    (
        Normal,
        "select_last",
        "G end",
        Action::SelectLast,
        "last row",
    ),
    (
        Normal,
        "describe",
        "enter d",
        Action::Describe,
        "describe the selected row",
    ),
    (
        Normal,
        "open_filter",
        "/",
        Action::OpenFilter,
        "filter rows (Enter keeps, Esc clears)",
    ),
    (
        Normal,
        "open_launch_form",
        "n",
        Action::OpenLaunchForm,
        "launch training from a form",
    ),
    (
        Normal,
        "remove",
        "x",
        Action::RequestRemove,
        "cancel run / remove agent / abort rollout (asks)",
    ),
    (
        Normal,
        "pause",
        "P",
        Action::RequestPause,
        "pause / resume the selected rollout (asks)",
    ),
    (
        Normal,
        "rerun",
        "R",
        Action::RequestRerun,
        "re-run the selected run (asks)",
    ),
    (
        Normal,
        "promote",
        "p",
        Action::StartPromote,
        ":promote a model's latest / promote a rollout (asks)",
    ),
    (
        Normal,
        "add",
        "a",
        Action::StartAdd,
        ":alias a model / :add-dataset a version",
    ),
    (
        Normal,
        "toggle_mark",
        "space",
        Action::ToggleMark,
        "mark a run to compare",
    ),
    (
        Normal,
        "compare_marked",
        "c",
        Action::CompareMarked,
        "compare the marked runs",
    ),
    (
        Normal,
        "cycle_sort",
        "s",
        Action::CycleSort,
        "sort runs: newest / best score",
    ),
    (Normal, "refresh", "r", Action::Refresh, "refresh now"),
    (Normal, "show_help", "?", Action::ShowHelp, "these keys"),
    (
        Normal,
        "back",
        "esc",
        Action::Back,
        "back / clear the filter",
    ),
    (Normal, "quit", "q ctrl-c", Action::Quit, "quit"),
    (Help, "back", "esc ? enter", Action::Back, "close the help"),
    (
        Help,
        "scroll_down",
        "j down",
        Action::ScrollHelp(1),
        "scroll",
    ),
    (Help, "scroll_up", "k up", Action::ScrollHelp(-1), "scroll"),
    (Help, "quit", "q ctrl-c", Action::Quit, "quit"),
    (
        Describe,
        "back",
        "esc enter d",
        Action::Back,
        "close the pane",
    ),
    (Describe, "quit", "q ctrl-c", Action::Quit, "quit"),
    (Confirm, "confirm", "y", Action::Confirm, "do it"),
    (Confirm, "back", "n esc", Action::Back, "leave it"),
    (Confirm, "quit", "ctrl-c", Action::Quit, "quit"),
    (
        Command,
        "complete",
        "tab",
        Action::Complete,
        "complete the command",
    ),
    (
        Command,
        "submit",
        "enter",
        Action::Submit,
        "run the command",
    ),
    (
        Command,
        "erase",
        "backspace",
        Action::Erase,
        "erase a character",
    ),
    (Command, "back", "esc", Action::Back, "cancel"),
    (Command, "quit", "ctrl-c", Action::Quit, "quit"),
    (Filter, "submit", "enter", Action::Submit, "keep the filter"),
    (
        Filter,
        "erase",
        "backspace",
        Action::Erase,
        "erase a character",
    ),
    (Filter, "back", "esc", Action::Back, "clear the filter"),
    (Filter, "quit", "ctrl-c", Action::Quit, "quit"),
    (Form, "submit", "enter", Action::Submit, "queue the run"),
    (
        Form,
        "next_field",
        "tab down",
        Action::NextField,
        "next field",
    ),
    (
        Form,
        "choice_previous",
        "left",
        Action::CycleChoice(-1),
        "previous choice",
    ),
    (
        Form,
        "choice_next",
        "right",
        Action::CycleChoice(1),
        "next choice",
    ),
    (
        Form,
        "erase",
        "backspace",
        Action::Erase,
        "erase a character",
    ),
    (Form, "back", "esc", Action::Back, "close the form"),
    (Form, "quit", "ctrl-c", Action::Quit, "quit"),
];

/// The key table in force: the defaults with the config's `[keys]` applied.
#[derive(Debug, Clone)]
pub struct Keymap {
    bindings: Vec<Binding>,
}

/// Keys for one action in `[keys]`: one key or a list.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(untagged)]
pub enum KeySpec {
    One(String),
    Many(Vec<String>),
}

impl Default for Keymap {
    fn default() -> Self {
        let bindings = DEFAULTS
            .iter()
            .map(|(mode, name, keys, action, help)| Binding {
                mode: *mode,
                name,
                keys: keys
                    .split(' ')
                    .map(|k| k.parse().expect("the default keys parse"))
                    .collect(),
                action: action.clone(),
                help,
            })
            .collect();
        Self { bindings }
    }
}

impl Keymap {
    /// The defaults with `overrides` (action name to keys) applied in every mode that has the
    /// action. Unknown names, malformed keys and a key bound twice in one mode are errors,
    /// all reported at once.
    pub fn with_overrides(overrides: &BTreeMap<String, KeySpec>) -> Result<Self, String> {
        let mut map = Self::default();
        let mut errors = Vec::new();
        for (name, spec) in overrides {
            let texts = match spec {
                KeySpec::One(key) => vec![key.clone()],
                KeySpec::Many(keys) => keys.clone(),
            };
            let keys: Result<Vec<Key>, String> = texts.iter().map(|k| k.parse()).collect();
            let keys = match keys {
                Ok(keys) => keys,
                Err(e) => {
                    errors.push(format!("keys.{name}: {e}"));
                    continue;
                }
            };
            let mut found = false;
            for binding in map.bindings.iter_mut().filter(|b| b.name == name) {
                binding.keys = keys.clone();
                found = true;
            }
            if !found {
                errors.push(format!("keys.{name}: no such action"));
            }
        }
        errors.extend(map.conflicts());
        if errors.is_empty() {
            Ok(map)
        } else {
            Err(errors.join("; "))
        }
    }

    fn conflicts(&self) -> Vec<String> {
        let mut seen: Vec<(Mode, Key, &str)> = Vec::new();
        let mut errors = Vec::new();
        for binding in &self.bindings {
            for key in &binding.keys {
                match seen.iter().find(|(m, k, _)| *m == binding.mode && k == key) {
                    Some((_, _, other)) => errors.push(format!(
                        "keys: {key} is bound to both {other} and {} ({:?} mode)",
                        binding.name, binding.mode
                    )),
                    None => seen.push((binding.mode, *key, binding.name)),
                }
            }
        }
        errors
    }

    /// The action `event` stands for in `mode`. In the input modes, a character no binding
    /// claims is typed.
    pub fn action(&self, mode: Mode, event: KeyEvent) -> Option<Action> {
        let key = Key::of(event);
        let bound = self
            .bindings
            .iter()
            .filter(|b| b.mode == mode)
            .find_map(|b| b.keys.iter().position(|k| *k == key).map(|i| (b, i)));
        if let Some((binding, position)) = bound {
            return Some(match binding.action {
                Action::GoToView(_) => Action::GoToView(position),
                ref action => action.clone(),
            });
        }
        match (mode, key.code) {
            (Command | Filter | Form, KeyCode::Char(c)) if !key.ctrl => Some(Action::Type(c)),
            _ => None,
        }
    }

    /// The first key bound to action `name` in `mode`, as written in the table.
    pub fn first_key(&self, mode: Mode, name: &str) -> Option<String> {
        self.bindings
            .iter()
            .find(|b| b.mode == mode && b.name == name)
            .and_then(|b| b.keys.first())
            .map(Key::to_string)
    }

    /// The help for `mode`: each action's keys and what it does.
    pub fn help(&self, mode: Mode) -> Vec<(String, &'static str)> {
        self.bindings
            .iter()
            .filter(|b| b.mode == mode)
            .map(|b| {
                let keys: Vec<String> = b.keys.iter().map(Key::to_string).collect();
                (keys.join(" "), b.help)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn the_defaults_have_no_conflicts_and_every_key_parses_back() {
        let map = Keymap::default();
        assert!(map.conflicts().is_empty(), "{:?}", map.conflicts());
        for binding in &map.bindings {
            for key in &binding.keys {
                assert_eq!(key.to_string().parse::<Key>().as_ref(), Ok(key));
            }
        }
    }

    #[test]
    fn keys_dispatch_by_mode_and_input_modes_type_the_rest() {
        let map = Keymap::default();
        assert_eq!(
            map.action(Normal, press(KeyCode::Char('G'))),
            Some(Action::SelectLast)
        );
        assert_eq!(
            map.action(Normal, press(KeyCode::Char('3'))),
            Some(Action::GoToView(2))
        );
        assert_eq!(
            map.action(Command, press(KeyCode::Char('q'))),
            Some(Action::Type('q'))
        );
        assert_eq!(map.action(Normal, press(KeyCode::Char('z'))), None);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        for mode in [Normal, Command, Filter, Form, Help, Describe, Confirm] {
            assert_eq!(map.action(mode, ctrl_c), Some(Action::Quit), "{mode:?}");
        }
    }

    #[test]
    fn overrides_rebind_by_name_and_report_every_mistake() {
        let overrides = BTreeMap::from([("compare_marked".to_string(), KeySpec::One("C".into()))]);
        let map = Keymap::with_overrides(&overrides).expect("valid");
        assert_eq!(
            map.action(Normal, press(KeyCode::Char('C'))),
            Some(Action::CompareMarked)
        );
        assert_eq!(map.action(Normal, press(KeyCode::Char('c'))), None);
        assert!(
            map.help(Normal)
                .contains(&("C".to_string(), "compare the marked runs"))
        );

        let bad = BTreeMap::from([
            ("cycle_sort".to_string(), KeySpec::Many(vec!["j".into()])),
            ("launch".to_string(), KeySpec::One("l".into())),
            ("refresh".to_string(), KeySpec::One("ctrl-".into())),
        ]);
        let err = Keymap::with_overrides(&bad).expect_err("mistakes");
        assert!(err.contains("keys.launch: no such action"), "{err}");
        assert!(err.contains("keys.refresh"), "{err}");
        assert!(
            err.contains("j is bound to both select_next and cycle_sort"),
            "{err}"
        );
    }
}
