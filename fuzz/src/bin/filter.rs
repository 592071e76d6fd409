//! `cargo afl fuzz -i fuzz/corpora/filter -o target/fuzz/filter target/debug/fuzz-filter`

fn main() {
    afl::fuzz!(|data: &[u8]| scim_fuzz::filter(data));
}
