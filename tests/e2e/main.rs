//! End-to-end tests of One Backend, in one test binary.

mod emulator;
mod render;
mod stack_structure;
