//! Keys to actions: a pure function of the key and the input mode, and
//! the help text that lists every key (kept here, next to the mapping, so
//! they cannot drift apart; a test checks that every listed key maps).

use crate::action::Action;
use crate::state::{InputMode, View};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// Every key, as the help overlay lists it: (keys, what they do).
pub const HELP: &[(&str, &str)] = &[
    ("?", "show or hide this help"),
    ("q, Ctrl-C", "quit (detaches; the target keeps running)"),
    ("Tab, Shift-Tab", "next / previous view"),
    ("1-7", "Goroutines, Ps, Ms, Channels, Heap, Timeline, Probes"),
    ("8, 9", "extension views (when present)"),
    ("Up/Down, j/k", "move the selection (scroll in a detail)"),
    ("PgUp/PgDn", "move by a page"),
    ("Home/End", "first / last row"),
    ("Enter", "open the selected goroutine (or its first waiter); arm/disarm a probe"),
    ("Esc", "back: close the detail, clear the filter"),
    ("/", "filter goroutines (id, status, wait reason, M, creator, stack)"),
    ("s, S", "sort goroutines by the next column / reverse the order"),
    ("g", "group goroutines with identical stacks"),
    ("p", "pause / resume the live refresh"),
    ("f, t", "freeze / thaw the selected thread (Ms, or a goroutine's M)"),
    ("F, T", "freeze / thaw every thread"),
    ("r", "run the selected thread to its next armed probe"),
    ("d", "write a dump (Go format) to a file"),
];

/// The keys of filter mode (shown while typing).
pub const FILTER_HELP: &str = "type to filter; Enter keeps it, Esc drops it";

/// The action for a key in a mode, if any. Releases are ignored.
pub fn map_key(key: KeyEvent, mode: InputMode) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && matches!(key.code, KeyCode::Char('c')) {
        return Some(Action::Quit);
    }
    if mode == InputMode::Filter {
        return match key.code {
            KeyCode::Enter => Some(Action::FilterApply),
            KeyCode::Esc => Some(Action::FilterCancel),
            KeyCode::Backspace => Some(Action::FilterBackspace),
            KeyCode::Char(c) if !ctrl => Some(Action::FilterChar(c)),
            _ => None,
        };
    }
    if mode == InputMode::Help {
        return match key.code {
            KeyCode::Esc | KeyCode::Char('?') | KeyCode::Enter => Some(Action::Help),
            KeyCode::Char('q') => Some(Action::Quit),
            _ => None,
        };
    }
    let a = match key.code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Char('?') => Action::Help,
        KeyCode::Esc => Action::Back,
        KeyCode::Backspace | KeyCode::Left if mode == InputMode::Detail => Action::Back,
        KeyCode::Enter | KeyCode::Char(' ') if mode == InputMode::Normal => Action::Open,
        KeyCode::Tab => Action::NextView,
        KeyCode::BackTab => Action::PrevView,
        KeyCode::Char(c @ '1'..='7') => Action::ShowView(View::BUILTIN[(c as u8 - b'1') as usize]),
        KeyCode::Char(c @ '8'..='9') => Action::ShowView(View::Extra(c as u8 - b'8')),
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::Char('b') if ctrl => Action::PageUp,
        KeyCode::Char('f') if ctrl => Action::PageDown,
        KeyCode::Home => Action::Home,
        KeyCode::End => Action::End,
        KeyCode::Char('/') if mode == InputMode::Normal => Action::StartFilter,
        KeyCode::Char('s') if mode == InputMode::Normal => Action::SortNext,
        KeyCode::Char('S') if mode == InputMode::Normal => Action::SortReverse,
        KeyCode::Char('g') if mode == InputMode::Normal => Action::ToggleGroup,
        KeyCode::Char('p') => Action::TogglePause,
        KeyCode::Char('f') => Action::FreezeSelected,
        KeyCode::Char('t') => Action::ThawSelected,
        KeyCode::Char('F') => Action::FreezeAll,
        KeyCode::Char('T') => Action::ThawAll,
        KeyCode::Char('r') => Action::RunToProbe,
        KeyCode::Char('d') => Action::Dump,
        _ => return None,
    };
    Some(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn ch(c: char) -> KeyEvent {
        let m = if c.is_ascii_uppercase() { KeyModifiers::SHIFT } else { KeyModifiers::NONE };
        KeyEvent::new(KeyCode::Char(c), m)
    }

    use InputMode::*;

    #[test]
    fn normal_mode() {
        let cases: &[(KeyEvent, Action)] = &[
            (ch('q'), Action::Quit),
            (KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL), Action::Quit),
            (ch('?'), Action::Help),
            (k(KeyCode::Esc), Action::Back),
            (k(KeyCode::Enter), Action::Open),
            (k(KeyCode::Tab), Action::NextView),
            (KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT), Action::PrevView),
            (ch('1'), Action::ShowView(View::Goroutines)),
            (ch('2'), Action::ShowView(View::Ps)),
            (ch('3'), Action::ShowView(View::Ms)),
            (ch('4'), Action::ShowView(View::Channels)),
            (ch('5'), Action::ShowView(View::Heap)),
            (ch('6'), Action::ShowView(View::Timeline)),
            (ch('7'), Action::ShowView(View::Probes)),
            (ch('8'), Action::ShowView(View::Extra(0))),
            (k(KeyCode::Up), Action::Up),
            (ch('k'), Action::Up),
            (k(KeyCode::Down), Action::Down),
            (ch('j'), Action::Down),
            (k(KeyCode::PageDown), Action::PageDown),
            (k(KeyCode::PageUp), Action::PageUp),
            (k(KeyCode::Home), Action::Home),
            (k(KeyCode::End), Action::End),
            (ch('/'), Action::StartFilter),
            (ch('s'), Action::SortNext),
            (ch('S'), Action::SortReverse),
            (ch('g'), Action::ToggleGroup),
            (ch('p'), Action::TogglePause),
            (ch('f'), Action::FreezeSelected),
            (ch('t'), Action::ThawSelected),
            (ch('F'), Action::FreezeAll),
            (ch('T'), Action::ThawAll),
            (ch('r'), Action::RunToProbe),
            (ch('d'), Action::Dump),
        ];
        for (key, want) in cases {
            assert_eq!(map_key(*key, Normal).as_ref(), Some(want), "{key:?}");
        }
        assert_eq!(map_key(ch('x'), Normal), None);
        let mut rel = ch('q');
        rel.kind = KeyEventKind::Release;
        assert_eq!(map_key(rel, Normal), None);
    }

    #[test]
    fn filter_mode_types_letters() {
        assert_eq!(map_key(ch('q'), Filter), Some(Action::FilterChar('q')));
        assert_eq!(map_key(ch('/'), Filter), Some(Action::FilterChar('/')));
        assert_eq!(map_key(ch('1'), Filter), Some(Action::FilterChar('1')));
        assert_eq!(map_key(k(KeyCode::Backspace), Filter), Some(Action::FilterBackspace));
        assert_eq!(map_key(k(KeyCode::Enter), Filter), Some(Action::FilterApply));
        assert_eq!(map_key(k(KeyCode::Esc), Filter), Some(Action::FilterCancel));
        assert_eq!(map_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL), Filter), Some(Action::Quit));
    }

    #[test]
    fn detail_and_help_modes() {
        assert_eq!(map_key(k(KeyCode::Esc), Detail), Some(Action::Back));
        assert_eq!(map_key(k(KeyCode::Backspace), Detail), Some(Action::Back));
        assert_eq!(map_key(k(KeyCode::Enter), Detail), None);
        assert_eq!(map_key(ch('j'), Detail), Some(Action::Down));
        assert_eq!(map_key(ch('f'), Detail), Some(Action::FreezeSelected));
        assert_eq!(map_key(ch('/'), Detail), None);
        assert_eq!(map_key(ch('g'), Detail), None);
        assert_eq!(map_key(k(KeyCode::Esc), Help), Some(Action::Help));
        assert_eq!(map_key(ch('?'), Help), Some(Action::Help));
        assert_eq!(map_key(ch('q'), Help), Some(Action::Quit));
        assert_eq!(map_key(ch('j'), Help), None);
    }

    #[test]
    fn every_key_in_the_help_maps() {
        // Each listed key (first spelling of each comma-separated key).
        let spell = |s: &str| -> Vec<KeyEvent> {
            match s {
                "?" => vec![ch('?')],
                "q" => vec![ch('q')],
                "Ctrl-C" => vec![KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)],
                "Tab" => vec![k(KeyCode::Tab)],
                "Shift-Tab" => vec![KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT)],
                "1-7" => ('1'..='7').map(ch).collect(),
                "8" => vec![ch('8')],
                "9" => vec![ch('9')],
                "Up/Down" => vec![k(KeyCode::Up), k(KeyCode::Down)],
                "j/k" => vec![ch('j'), ch('k')],
                "PgUp/PgDn" => vec![k(KeyCode::PageUp), k(KeyCode::PageDown)],
                "Home/End" => vec![k(KeyCode::Home), k(KeyCode::End)],
                "Enter" => vec![k(KeyCode::Enter)],
                "Esc" => vec![k(KeyCode::Esc)],
                s if s.chars().count() == 1 => vec![ch(s.chars().next().unwrap())],
                other => panic!("help lists a key the test cannot spell: {other}"),
            }
        };
        for (keys, what) in HELP {
            for key in keys.split(", ") {
                for ev in spell(key) {
                    assert!(map_key(ev, Normal).is_some(), "{key} ({what}) maps to nothing");
                }
            }
        }
    }
}
