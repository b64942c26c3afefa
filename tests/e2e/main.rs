//! End-to-end tests of One Backend, in one test binary.

mod render;
mod stack_structure;
