//! Integration tests live in `tests/`; this package holds no code.
