//! Keys to actions, by input mode (k9s conventions).

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
}

/// The action a key stands for in `mode`, if any.
pub fn action_for(mode: Mode, key: KeyEvent) -> Option<Action> {
    if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    match mode {
        Mode::Normal => match key.code {
            KeyCode::Char('q') => Some(Action::Quit),
            KeyCode::Char(':') => Some(Action::OpenCommandLine),
            KeyCode::Char('/') => Some(Action::OpenFilter),
            KeyCode::Char('?') => Some(Action::ShowHelp),
            KeyCode::Char('r') => Some(Action::Refresh),
            KeyCode::Char(' ') => Some(Action::ToggleMark),
            KeyCode::Char('c') => Some(Action::CompareMarked),
            KeyCode::Char('s') => Some(Action::CycleSort),
            KeyCode::Char('n') => Some(Action::OpenLaunchForm),
            KeyCode::Char('j') | KeyCode::Down => Some(Action::SelectNext),
            KeyCode::Char('k') | KeyCode::Up => Some(Action::SelectPrevious),
            KeyCode::Esc => Some(Action::Back),
            _ => None,
        },
        Mode::Help => match key.code {
            KeyCode::Char('q') => Some(Action::Quit),
            KeyCode::Esc | KeyCode::Char('?') | KeyCode::Enter => Some(Action::Back),
            _ => None,
        },
        Mode::Form => match key.code {
            KeyCode::Esc => Some(Action::Back),
            KeyCode::Enter => Some(Action::Submit),
            KeyCode::Tab | KeyCode::Down => Some(Action::NextField),
            KeyCode::Left => Some(Action::CycleChoice(-1)),
            KeyCode::Right => Some(Action::CycleChoice(1)),
            KeyCode::Backspace => Some(Action::Erase),
            KeyCode::Char(c) => Some(Action::Type(c)),
            _ => None,
        },
        Mode::Command | Mode::Filter => match key.code {
            KeyCode::Esc => Some(Action::Back),
            KeyCode::Enter => Some(Action::Submit),
            KeyCode::Backspace => Some(Action::Erase),
            KeyCode::Char(c) => Some(Action::Type(c)),
            _ => None,
        },
    }
}

/// Key help as `(keys, what they do)`, shown by `?`.
pub const HELP: &[(&str, &str)] = &[
    (
        ":agents :runs :models",
        "switch view (also :compare :events)",
    ),
    (":train SPEC.toml", "queue training from a spec file"),
    ("n", "launch training from a form"),
    ("space  c", "mark runs, compare the marked ones"),
    ("s", "sort runs: newest / best score"),
    ("/", "filter rows (Enter keeps, Esc clears)"),
    ("j k  ↓ ↑", "move the selection"),
    ("r", "refresh now"),
    ("Esc", "back / clear filter"),
    ("q  Ctrl-C", "quit"),
];
