# Sourced by the bench scripts (from the repository root): sets BIN, the absolute path of the CLI
# to measure: POLYAK_BIN if set (a prebuilt one, on a machine without Rust, say), else this
# checkout's release build, built now.
if [ -n "${POLYAK_BIN:-}" ]; then
  BIN=$(realpath "$POLYAK_BIN")
else
  cargo build --release --quiet --bin polyak
  BIN=$PWD/target/release/polyak
fi
