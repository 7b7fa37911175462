//! Benchmarks of green (see docs/PERFORMANCE.md).
