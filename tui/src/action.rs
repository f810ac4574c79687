//! Everything a person (or an [`crate::app::Extension`]) can ask the app to
//! do. Keys map to actions in `input`; the app applies them.

use crate::state::View;

/// One thing to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Quit,
    /// Toggle the help overlay.
    Help,
    /// Close the detail, the overlay, or clear the filter.
    Back,
    /// Open the selected row (a goroutine's detail; arm/disarm a probe).
    Open,
    NextView,
    PrevView,
    ShowView(View),
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    /// Start typing a filter (`/`).
    StartFilter,
    FilterChar(char),
    FilterBackspace,
    /// Keep the typed filter and leave filter mode.
    FilterApply,
    /// Drop the typed filter and leave filter mode.
    FilterCancel,
    /// Sort by the next column / reverse the order.
    SortNext,
    SortReverse,
    /// Group goroutines with identical stacks.
    ToggleGroup,
    /// Stop/resume refreshing the screen from the table.
    TogglePause,
    /// Freeze or thaw the thread of the selected row.
    FreezeSelected,
    ThawSelected,
    FreezeAll,
    ThawAll,
    /// Thaw the selected thread and let it run to its next armed probe.
    RunToProbe,
    /// Write a dump file.
    Dump,
    // --- for extensions: explicit targets
    Freeze(i32),
    Thaw(i32),
    /// Arm or disarm every site of a probe, by name (`grt:` provider).
    Arm(String),
    Disarm(String),
    /// Open the detail of goroutine `goid`.
    OpenGoroutine(u64),
    /// Show a message on the status line.
    Say(String),
    /// End the app with this error (an extension that cannot go on): the
    /// terminal is restored, the message printed, the exit status non-zero.
    Fail(String),
    /// Marks threads as held by another module's controller (tid -> mark).
    SetMarks(std::collections::HashMap<u64, crate::state::Mark>),
}
