//! HTTP-level tests of the mock.
