//! `cargo afl fuzz -i fuzz/corpora/patch_path -o target/fuzz/patch_path target/debug/fuzz-patch-path`

fn main() {
    afl::fuzz!(|data: &[u8]| scim_fuzz::patch_path(data));
}
