//! Styles, in one place. With `NO_COLOR` set (https://no-color.org) no
//! style carries a color; emphasis is bold, reverse video and underline
//! only, and every state that color would show is also spelled out in
//! text (e.g. "waiting (scan)", "[F]").

use ratatui::style::{Color, Modifier, Style};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
}

impl Default for Theme {
    fn default() -> Theme {
        Theme { color: true }
    }
}

impl Theme {
    /// Colors unless `NO_COLOR` is set to a non-empty value.
    pub fn from_env() -> Theme {
        Theme { color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) }
    }

    pub fn plain() -> Theme {
        Theme { color: false }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    pub fn normal(&self) -> Style {
        Style::new()
    }

    pub fn dim(&self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }

    pub fn title(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    pub fn header_row(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    /// The sort column's title.
    pub fn sorted(&self) -> Style {
        self.header_row().add_modifier(Modifier::UNDERLINED)
    }

    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    pub fn tab(&self) -> Style {
        self.dim()
    }

    pub fn tab_active(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
    }

    pub fn key(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    /// A goroutine status.
    pub fn status(&self, base: Option<u32>, scan: bool) -> Style {
        if scan {
            return self.fg(Color::Magenta).add_modifier(Modifier::BOLD);
        }
        match base {
            Some(grt_table::G_RUNNING) => self.fg(Color::Green),
            Some(grt_table::G_RUNNABLE) => self.fg(Color::Cyan),
            Some(grt_table::G_SYSCALL) => self.fg(Color::Blue),
            Some(grt_table::G_WAITING) => self.normal(),
            _ => self.fg(Color::Red),
        }
    }

    /// A thread we hold (frozen, at a probe).
    pub fn frozen(&self) -> Style {
        self.fg(Color::LightBlue).add_modifier(Modifier::BOLD)
    }

    pub fn warn(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    /// Banners: a deadlock cycle, an exited target, errors.
    pub fn alert(&self) -> Style {
        if self.color {
            Style::new().fg(Color::White).bg(Color::Red).add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        }
    }

    pub fn error(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn ok(&self) -> Style {
        self.fg(Color::Green)
    }

    /// One sparkline color per timeline category.
    pub fn cat(&self, i: usize) -> Style {
        let c = [Color::Green, Color::Cyan, Color::Blue, Color::Gray, Color::Magenta, Color::Red];
        self.fg(c[i % c.len()])
    }
}
