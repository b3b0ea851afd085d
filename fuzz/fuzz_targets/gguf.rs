//! Fuzz target: arbitrary bytes opened as a GGUF file. The reader must return `Ok` or `Err`,
//! never panic, hang or allocate beyond what the input justifies; whatever it accepts must be
//! usable: every tensor's data in bounds and of its declared size, every value printable, every
//! typed getter answering.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tt_core::gguf::GgufFile;

fuzz_target!(|data: &[u8]| {
    let f = match GgufFile::from_bytes("fuzz.gguf", data.to_vec()) {
        Ok(f) => f,
        Err(e) => {
            assert!(
                e.to_string().starts_with("fuzz.gguf: "),
                "error without the file name: {e}"
            );
            return;
        }
    };
    for t in f.tensors() {
        assert!(f.tensor(&t.name).is_some_and(|u| std::ptr::eq(u, t)));
        match (t.ty, f.tensor_data(t)) {
            (Ok(_), Ok(bytes)) => assert_eq!(bytes.len() as u64, t.size),
            (Err(_), Err(_)) => {}
            (ty, r) => panic!(
                "tensor {} of type {ty:?}: data access gave {:?}",
                t.name,
                r.map(<[u8]>::len)
            ),
        }
    }
    for (key, value) in f.metadata() {
        let _ = (value.to_string(), format!("{value:#}"), value.type_name());
        // Identity, not `==`: NaN values are not equal to themselves.
        assert!(f.get(key).is_some_and(|v| std::ptr::eq(v, value)));
        let _ = (
            f.get_u32(key),
            f.get_f32(key),
            f.get_bool(key),
            f.get_str(key),
        );
        let _ = (
            f.get_string_array(key),
            f.get_i32_array(key),
            f.get_f32_array(key),
        );
    }
});
