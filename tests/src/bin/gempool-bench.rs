//! `gempool-bench`: measures the gateway against the mock Gemini on loopback and prints a table
//! (see [`gempool_tests::bench`], where the benchmark lives, split by concern).

fn main() -> anyhow::Result<()> {
    gempool_tests::bench::main()
}
