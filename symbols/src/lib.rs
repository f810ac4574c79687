//! ELF symbols, DWARF lines and inlines, CFI unwinding and SDT probe notes.
