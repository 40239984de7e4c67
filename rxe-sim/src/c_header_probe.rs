//! For tests of generated bindings: the values of C expressions (sizes, offsets, constants) as
//! the compiler sees them in an installed header, to compare with the bindings' own.

/// Compiles and runs a C program that includes `headers` (with `defines`, `-D` arguments) and
/// prints each of `probes` (a name and a C expression); returns the names with their values.
pub fn c_values(headers: &[&str], defines: &[&str], probes: &[(String, String)]) -> Vec<(String, u64)> {
    let mut program = String::from("#include <stddef.h>\n#include <stdio.h>\n");
    for header in headers {
        program += &format!("#include <{header}>\n");
    }
    program += "int main(void) {\n";
    for (name, expr) in probes {
        program += &format!("    printf(\"%s=%llu\\n\", \"{name}\", (unsigned long long)({expr}));\n");
    }
    program += "    return 0;\n}\n";
    let dir = std::env::temp_dir().join(format!("c_header_probe_{}_{}", std::process::id(), headers.join("_").replace('/', "_")));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    std::fs::write(dir.join("probe.c"), program).expect("the probe written");
    let built = std::process::Command::new("cc")
        .args(defines)
        .arg("-o")
        .arg(dir.join("probe"))
        .arg(dir.join("probe.c"))
        .status()
        .expect("cc runs");
    assert!(built.success(), "the probe compiles against {headers:?}");
    let run = std::process::Command::new(dir.join("probe")).output().expect("the probe runs");
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8(run.stdout)
        .expect("text")
        .lines()
        .map(|line| {
            let (name, value) = line.split_once('=').expect("name=value");
            (name.to_string(), value.parse().expect("a number"))
        })
        .collect()
}
